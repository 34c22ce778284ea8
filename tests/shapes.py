"""The real-project shapes of tests/projects/ and the settings a user gives each (tests/projects/README.md).

Shared by the in-process tier (tests/integration/test_real_shapes.py: pytest and async-test run),
the differential tier (tests/differential: both modes and plain pytest compared) and the image tier
(tests/e2e/test_shapes_image.py: docker run), with the helpers that run a shape as a user would.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest

PROJECTS = Path(__file__).resolve().parent / "projects"


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
    installed: bool = False  # the project itself is installed (its CI: poetry install / uv sync / pip install .)
    run_args: Tuple[str, ...] = ()  # what follows PROJECT in `async-test run` / `docker run IMAGE`
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
SHAPES.append(Shape(
    "reads-own-version",
    # The exported DATABASE_URL is the libpq form it reads; its two schema fixtures are the setting.
    # No testpaths: its CI runs `pytest tests/` (benchmarks/ beside it fails to collect), so do we.
    env={"ASYNC_TEST_DB_FIXTURES": "schema, tables"},
    unit={"passed": 3}, integration={"passed": 3}, pytest_args=("tests",), installed=True,
    run_args=("--", "tests"),
))
SHAPES.append(Shape(
    "url-list",
    # One variable, a comma-separated list of URLs (commas kept inside an ASYNC_TEST_ENV value); the
    # parametrized fixture `engine` and the test that connects on its own (its file) are the integration tests.
    env={"ASYNC_TEST_ENV": "TEST_DATABASE_URLS=sqlite+aiosqlite://,{async_url},"
                           "postgresql+psycopg://{user}:{password}@{host}:{port}/{database}",
         "ASYNC_TEST_DB_FIXTURES": "engine", "ASYNC_TEST_INTEGRATION_PATHS": "tests/test_pool.py"},
    unit={"passed": 1}, integration={"passed": 8},
))
BY_NAME = {shape.name: shape for shape in SHAPES}


# What the tests read from the environment; a child starts without any of them, then gets the shape's.
INHERITED_PREFIXES = ("ASYNC_TEST_", "_ASYNC_TEST_", "PG", "POSTGRES_", "PYTEST_", "COV_CORE_")
INHERITED_NAMES = ("DATABASE_URL", "CI", "DB_URI", "DB_DSN", "MYAPP_DB", "SERVICE_ENVIRONMENT", "APP_CONFIG_FILE",
                   "TEST_DATABASE_URI_SYNC", "TEST_DATABASE_URI_ASYNC", "TEST_DATABASE_URLS", "PYTHONPATH",
                   "COVERAGE_FILE", "COVERAGE_PROCESS_START")

# The copies sit in a monorepo whose root has pytest settings of its own, as this repository's
# tests/projects/ does: the runner must find each project's own configuration, not the root's.
MONOREPO_ROOT_CONFIG = """\
[tool.ruff]
line-length = 120

[tool.pytest.ini_options]
testpaths = ["scripts/tests"]
"""


def copy_project(shape: Shape, tmp_path: Path) -> Path:
    """The project as a user has it, in a scratch monorepo: runs leave results, caches and sqlite files."""
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    (repo / "pyproject.toml").write_text(MONOREPO_ROOT_CONFIG)
    dest = repo / shape.name
    shutil.copytree(PROJECTS / shape.name, dest,
                    ignore=shutil.ignore_patterns("__pycache__", ".async-test", ".coverage*", "*.db", ".pytest_cache"))
    return dest


def child_env(shape: Shape, project: Path, pg_cluster: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES) and k not in INHERITED_NAMES}
    # A machine setting (the image sets it too), not a project's: it does not configure the harness.
    env["ASYNC_TEST_PG_CLUSTER"] = pg_cluster
    env.update(shape.env)
    if env.get("ASYNC_TEST_PG_AUTH") == "trust":
        # On a machine, not in the image: trust on TCP is the explicit opt-in (docs/configuration.md).
        env["ASYNC_TEST_PG_AUTH"] = "trust-shared-host"
    env.update(extra or {})
    paths = [str(project / shape.pythonpath)] if shape.pythonpath else []
    if shape.installed:  # as its CI's `pip install .`: a regular install, beside the harness's environment
        target = project.parent / f"{shape.name}-installed"
        subprocess.run(["uv", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(project)],
                       check=True, capture_output=True)
        paths.append(str(target))
    # Keep an outer PYTHONPATH (e.g. pointing at another harness checkout to compare against).
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


PORT_LOCK = Path(tempfile.gettempdir()) / "async-test-real-shapes-5432.lock"


@contextmanager
def port_5432_for(shape: Shape) -> Iterator[None]:
    """Hold 5432 for this test (xdist workers queue here); skip when something else listens there."""
    if not shape.port_5432:
        yield
        return
    from async_test_harness.server.postgres import port_is_free

    with open(PORT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deadline = time.monotonic() + 20  # a previous run's server may still be shutting down
        while not port_is_free(5432):
            if time.monotonic() > deadline:
                pytest.skip("port 5432 is in use by something else on this machine; the shape hard-codes it")
            time.sleep(0.2)
        yield


@contextmanager
def own_server(pg_cluster: str, statement: str, database: str = "postgres") -> Iterator[str]:
    """A project's own PostgreSQL (its CI's `services: postgres`), unknown to the harness: ``statement`` run
    in its ``postgres`` database first; yields the URL of ``database``."""
    import psycopg2

    from async_test_harness.server.postgres import SupervisedServer

    server = SupervisedServer(cluster=pg_cluster)
    info = server.start()
    try:
        conn = psycopg2.connect(host=info.host, port=info.port, user=info.user, password=info.password,
                                dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.close()
        yield f"postgresql://{info.user}:{info.password}@{info.host}:{info.port}/{database}"
    finally:
        server.stop()


@contextmanager
def own_server_url(pg_cluster: str) -> Iterator[str]:
    """Shape 8's own PostgreSQL (its CI would have a `services: postgres`), with a `myapp` database."""
    with own_server(pg_cluster, "CREATE DATABASE myapp", "myapp") as url:
        yield url
