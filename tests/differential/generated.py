"""Generated suites for the differential tier: the shapes issue 22 found the default run getting wrong.

Each is a small project (file name -> text) written into the test's folder. They hold no assertion
on the harness's verdict: the tier compares the default run with ``--separate-passes`` and with plain
``pytest --cov``, and each suite is built so that a run that differs from two processes shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

PYTEST_INI = "[pytest]\nasyncio_mode = auto\npythonpath = .\n"

DB_TEST = '''\
from sqlalchemy import text


async def test_database_answers(async_db_session):
    assert await async_db_session.scalar(text("SELECT 41 + 1")) == 42
'''


@dataclass(frozen=True)
class Generated:
    name: str
    files: Dict[str, str]
    why: str  # what the suite catches
    env: Dict[str, str] = field(default_factory=dict)
    # None: plain `pytest --cov` runs the same tests, so the coverage must be the same; else why not.
    no_plain_comparison: Optional[str] = None


UNIMPORTED = Generated(
    "unimported-module",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/used.py": "def double(x):\n    return 2 * x\n",
        "app/unused.py": ("import os\n\n\ndef never_called():\n    return os.getcwd()\n\n\n"
                          "class NeverUsed:\n    size = 3\n\n    def grow(self):\n        self.size += 1\n"),
        "tests/unit/test_used.py": "from app.used import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
        "tests/integration/test_db.py": DB_TEST,
    },
    "issue 22 item 1: app/unused.py, imported by no test, must count as 0 % in every figure",
)

# A sync fixture runs a coroutine on "the event loop that exists at that moment": it works while no
# loop has been set and unset yet, i.e. before any async test ran (with a loop per test, as the project
# sets, pytest-asyncio unsets each test's loop after it). In the project's own order
# (tests/integration/ sorts before tests/unit/) that holds; with the async unit tests first, it does not.
ORDER_SENSITIVE = Generated(
    "order-sensitive-fixture",
    {
        "pytest.ini": PYTEST_INI + "asyncio_default_fixture_loop_scope = function\n"
                                   "asyncio_default_test_loop_scope = function\n",
        "app/__init__.py": "",
        "app/repo.py": "async def count(pool):\n    return await pool.fetchval('SELECT count(*) FROM pg_class') > 0\n",
        "tests/integration/test_pool.py": '''\
import asyncio
import os

import asyncpg
import pytest

from app.repo import count


@pytest.fixture(scope="module")
def pool():
    loop = asyncio.get_event_loop()
    pool = loop.run_until_complete(asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=2))
    yield pool
    loop.run_until_complete(pool.close())


def test_pool_counts(pool):
    assert asyncio.get_event_loop().run_until_complete(count(pool))


def test_pool_selects(pool):
    assert asyncio.get_event_loop().run_until_complete(pool.fetchval("SELECT 1")) == 1
''',
        "tests/unit/test_async_unit.py": '''\
import asyncio


async def test_sleeps():
    await asyncio.sleep(0)


async def test_gathers():
    assert await asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0, 2)) == [1, 2]
''',
    },
    "issue 22 item 2: a suite green in its own order (plain pytest, --separate-passes) must be green by default",
)

# The app connects at import; a unit test writes through that connection.
IMPORT_TIME_CONNECTION = Generated(
    "import-time-connection",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/db.py": '''\
import os

import psycopg2

CONNECTION = psycopg2.connect(os.environ["DATABASE_URL"])
CONNECTION.autocommit = True


def write(note):
    with CONNECTION.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (text varchar)")
        cur.execute("INSERT INTO notes VALUES (%s)", (note,))
''',
        "tests/unit/test_writes.py": '''\
from app.db import write


def test_unit_test_writes_the_database():
    write("written by a unit test")
''',
        "tests/integration/test_db.py": DB_TEST,
    },
    "issue 22 item 3: a unit test must not reach the database through a connection the app opened at import",
    no_plain_comparison=(
        "plain pytest is one process with the database there: the unit test writes through the psycopg2 connection "
        "opened at import, a C object the harness cannot guard (docs/unit-and-integration.md)"),
)

# The same through SQLAlchemy: a connection made before the blocker first listened fires no events, so
# one session let the unit test read the database; two processes fail the module at collection (the unit
# process's DATABASE_URL leads nowhere). The session now hands its unit tests back to the runner
# (plugin/early_connections.py), so both say the same.
IMPORT_TIME_SQLALCHEMY = Generated(
    "import-time-sqlalchemy-connection",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/db.py": '''\
import os

from sqlalchemy import create_engine, text

CONNECTION = create_engine(os.environ["DATABASE_URL"]).connect()


def count():
    return CONNECTION.execute(text("SELECT count(*) FROM pg_class")).scalar()
''',
        "tests/unit/test_reads.py": '''\
from app.db import count


def test_unit_test_reads_the_database():
    assert count() > 0
''',
        "tests/integration/test_db.py": DB_TEST,
    },
    "issue 22 item 3: a SQLAlchemy connection opened at import fails the unit module as two processes do",
    no_plain_comparison=(
        "plain pytest is one process with the database there: the connection SQLAlchemy opened at import, before "
        "the blocker listened, fires no events, and the unit test reads the database"),
)

OS_EXIT = Generated(
    "os-exit-in-unit-test",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/used.py": "def double(x):\n    return 2 * x\n",
        "tests/unit/test_crash.py": '''\
import os

from app.used import double


def test_before():
    assert double(1) == 2


def test_crashes_the_process():
    os._exit(0)


def test_after():
    assert double(3) == 6
''',
        "tests/integration/test_db.py": DB_TEST,
    },
    "issue 22 item 4: os._exit(0) in a unit test must not lose the integration tests nor give a green run",
    no_plain_comparison="plain pytest dies at os._exit(0) and writes no coverage data",
)

# The exiting test is the project's last one, so plain pytest (its own order) ran every other test.
PYTEST_EXIT = Generated(
    "pytest-exit-in-unit-test",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/used.py": "def double(x):\n    return 2 * x\n",
        "tests/unit/test_stop.py": '''\
import pytest

from app.used import double


def test_before():
    assert double(1) == 2


def test_zz_stops_the_session():
    pytest.exit("stopped by a test", returncode=0)
''',
        "tests/integration/test_db.py": DB_TEST,
    },
    "issue 22 item 4: pytest.exit(returncode=0) in a unit test must not lose the integration tests",
    no_plain_comparison="plain pytest --cov writes no coverage data when a test calls pytest.exit()",
)

# The same endings in an integration test, which the project's order (tests/integration/ sorts before
# tests/unit/) runs before every unit test: the unit tests must still run, as in a process of their own.
_ENDING_IN_INTEGRATION = '''\
import os

import pytest
from sqlalchemy import text


async def test_before(async_db_session):
    assert await async_db_session.scalar(text("SELECT 1")) == 1


def test_ends_the_process():
    {ending}


async def test_after(async_db_session):
    assert await async_db_session.scalar(text("SELECT 2")) == 2
'''

_UNIT_TESTS = "from app.used import double\n\n\ndef test_double():\n    assert double(2) == 4\n\n\n" \
              "def test_double_again():\n    assert double(3) == 6\n"

OS_EXIT_INTEGRATION = Generated(
    "os-exit-in-integration-test",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/used.py": "def double(x):\n    return 2 * x\n",
        "tests/integration/test_crash.py": _ENDING_IN_INTEGRATION.format(ending="os._exit(0)"),
        "tests/unit/test_used.py": _UNIT_TESTS,
    },
    "os._exit(0) in an integration test run before the unit tests must not lose the unit tests",
    no_plain_comparison="plain pytest dies at os._exit(0) and writes no coverage data",
)

PYTEST_EXIT_INTEGRATION = Generated(
    "pytest-exit-in-integration-test",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/used.py": "def double(x):\n    return 2 * x\n",
        "tests/integration/test_stop.py": _ENDING_IN_INTEGRATION.format(
            ending='pytest.exit("stopped by a test", returncode=0)'),
        "tests/unit/test_used.py": _UNIT_TESTS,
    },
    "pytest.exit(returncode=0) in an integration test run before the unit tests must not lose the unit tests",
    no_plain_comparison="plain pytest --cov writes no coverage data when a test calls pytest.exit()",
)

# One module, a module-scoped database fixture used by some of its tests, unit tests beside them.
MIXED_MODULE = Generated(
    "mixed-module",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/tables.py": '''\
def create(conn):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS things (n int)")


def drop(conn):
    with conn.cursor() as cur:
        cur.execute("DROP TABLE things")


def pure(n):
    return n + 1
''',
        "tests/test_mixed.py": '''\
import os

import psycopg2
import pytest

from app.tables import create, drop, pure


@pytest.fixture(scope="module")
def things():
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    conn.autocommit = True
    create(conn)
    yield conn
    drop(conn)
    conn.close()


def test_unit_first(): assert pure(1) == 2


def test_insert(things):
    with things.cursor() as cur:
        cur.execute("INSERT INTO things VALUES (1)")


def test_unit_between(): assert pure(2) == 3


def test_count(things):
    with things.cursor() as cur:
        cur.execute("SELECT count(*) FROM things")
        assert cur.fetchone()[0] == 1


def test_unit_last(): assert pure(3) == 4
''',
    },
    "a module-scoped database fixture with unit tests around its users: set up and torn down as two processes do",
    env={"ASYNC_TEST_DB_FIXTURES": "things"},
)

# The project's last test is a unit test, and a session-scoped database fixture exists: its teardown
# (which uses the database) must not run inside a unit test, where the database is blocked.
LAST_TEST_UNIT = Generated(
    "last-test-is-unit",
    {
        "pytest.ini": PYTEST_INI,
        "app/__init__.py": "",
        "app/pure.py": "def pure(n):\n    return n * 3\n",
        "conftest.py": '''\
import os

import psycopg2
import pytest


@pytest.fixture(scope="session")
def seeded():
    conn = psycopg2.connect(os.environ["DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE seeded (n int)")
        cur.execute("INSERT INTO seeded VALUES (7)")
    yield conn
    with conn.cursor() as cur:
        cur.execute("DROP TABLE seeded")
    conn.close()
''',
        "tests/test_a_db.py": '''\
def test_seeded(seeded):
    with seeded.cursor() as cur:
        cur.execute("SELECT n FROM seeded")
        assert cur.fetchone()[0] == 7
''',
        "tests/test_z_unit.py": "from app.pure import pure\n\n\ndef test_last(): assert pure(2) == 6\n",
    },
    "the last test of the project's order is a unit test while a session-scoped database fixture is alive",
    env={"ASYNC_TEST_DB_FIXTURES": "seeded"},
)

GENERATED = [UNIMPORTED, ORDER_SENSITIVE, IMPORT_TIME_CONNECTION, IMPORT_TIME_SQLALCHEMY, OS_EXIT, PYTEST_EXIT,
             OS_EXIT_INTEGRATION, PYTEST_EXIT_INTEGRATION, MIXED_MODULE, LAST_TEST_UNIT]
