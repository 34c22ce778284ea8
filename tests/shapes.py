"""The real-project shapes of tests/projects/ and the settings a user gives each (tests/projects/README.md).

Shared by the in-process tier (tests/integration/test_real_shapes.py: pytest and async-test run)
and the image tier (tests/e2e/test_shapes_image.py: docker run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class Shape:
    name: str
    env: Dict[str, str]  # what the user sets, outside the project's files
    unit: Dict[str, int]  # outcome counts of the tests classified unit
    integration: Dict[str, int]
    pytest_dir: str = ""  # where the project's pytest configuration is, inside the folder
    pytest_args: Tuple[str, ...] = ()  # what the project's CI adds to a plain `pytest`
    pythonpath: str = ""  # a folder of the project that stands for its installed packages
    uses_harness: bool = True
    port_5432: bool = False
    env_from_fixture: Tuple[str, ...] = field(default=())  # names filled in by the test (own_server)
    order_sensitive: bool = False  # passes only in its own order: also run with --separate-passes


SHAPES = [
    Shape(
        "settings-at-import",
        # The project's own async_db_session overrides the harness's: declaring it is the one setting.
        env={"ASYNC_TEST_DB_FIXTURES": "async_db_session"},
        unit={"passed": 3}, integration={"passed": 3}, pytest_dir="backend",
    ),
    Shape(
        "url-without-dbname",
        env={"ASYNC_TEST_ENV": "DB_URI=postgresql+asyncpg://{user}:{password}@{host}:{port}",
             "ASYNC_TEST_DB_FIXTURES": "database"},
        unit={"passed": 3}, integration={"passed": 4},
    ),
    Shape(
        "two-drivers",
        env={"ASYNC_TEST_ENV": "TEST_DATABASE_URI_SYNC=postgresql+psycopg://{user}:{password}@{host}:{port}/{database}\n"
                               "TEST_DATABASE_URI_ASYNC={async_url}",
             "ASYNC_TEST_DB_FIXTURES": "sync_tables, async_tables"},
        unit={"passed": 6}, integration={"passed": 4}, pytest_args=("--cov",),
    ),
    Shape(
        "alembic-first",
        env={"ASYNC_TEST_ALEMBIC_INI": "alembic.ini",
             "ASYNC_TEST_ENV": "DB_DSN={async_url}",
             "ASYNC_TEST_DB_FIXTURES": "container",
             "SERVICE_ENVIRONMENT": "ci"},
        unit={"passed": 2}, integration={"passed": 3},
    ),
    Shape(
        "hardcoded-trust",
        env={"ASYNC_TEST_PG_PORT": "5432", "ASYNC_TEST_PG_AUTH": "trust", "ASYNC_TEST_DB_FIXTURES": "db_migration"},
        unit={"passed": 2}, integration={"passed": 6}, pythonpath="src", port_5432=True,
    ),
    Shape(
        "strict-mode",
        env={"ASYNC_TEST_ENV": "DATABASE_URL={async_url}", "ASYNC_TEST_DB_FIXTURES": "engine"},
        unit={"passed": 3}, integration={"passed": 3},
    ),
    Shape(
        "anyio-no-harness",
        env={}, unit={"passed": 5, "skipped": 1, "xfailed": 1}, integration={}, uses_harness=False,
    ),
    Shape(
        "own-server",
        # Plain pytest: nothing but its own variable. async-test run: its `conn` fixture reaches a
        # database, which only the project knows (undeclared, the unit pass blocks it).
        env={}, unit={"passed": 1}, integration={"passed": 4}, uses_harness=False, env_from_fixture=("MYAPP_DB",),
    ),
    Shape(
        "order-sensitive",
        # Its sync session fixture builds an asyncpg pool on "the current event loop", which exists only
        # before an async test has run; the run's last test (a unit test) tears the pool down.
        env={"ASYNC_TEST_DB_FIXTURES": "pg_pool"},
        unit={"passed": 3, "skipped": 1}, integration={"passed": 3}, order_sensitive=True,
    ),
]
BY_NAME = {shape.name: shape for shape in SHAPES}
