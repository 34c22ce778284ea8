"""A unit test cannot reach the database through a connection opened before it (issue 22, item 3).

Blocking connects is not enough: an app that opens an asyncpg connection at import, or a module-level
SQLAlchemy engine whose pooled connection an integration test left behind, is already connected when
a unit test runs. Here the app's database is a server of this test's own, whose address the harness
does not know (so its socket guard cannot help): only the guards on the *use* of a connection stand
between the unit tests and the rows, and the rows are counted on that server after each run, in the
default mode (one session, the project's order) and with --separate-passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from shapes import own_server

from helpers import write_files

APP = '''\
import asyncio
import os

import asyncpg
from sqlalchemy import create_engine

URL = os.environ["APP_DB_URL"]

loop = asyncio.new_event_loop()
connection = loop.run_until_complete(asyncpg.connect(URL))  # opened at import, before any test
engine = create_engine(URL.replace("postgresql://", "postgresql+psycopg2://"))  # module-level, pooled
'''

TESTS = '''\
import pytest
from sqlalchemy import text

from app import db


@pytest.mark.integration
def test_1_an_integration_test_leaves_a_pooled_connection():
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO writes VALUES ('integration')"))


@pytest.mark.unit
def test_2_a_unit_test_writes_through_the_engine():
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO writes VALUES ('unit through the engine')"))


@pytest.mark.unit
def test_3_a_unit_test_writes_through_the_import_time_connection():
    db.loop.run_until_complete(db.connection.execute("INSERT INTO writes VALUES ('unit through asyncpg')"))


@pytest.mark.unit
def test_4_a_unit_test_reads_through_an_asyncpg_pool():
    async def read():
        import asyncpg

        async with asyncpg.create_pool(db.URL, min_size=1, max_size=1) as pool:
            return await pool.fetchval("SELECT 1")

    assert db.loop.run_until_complete(read()) == 1
'''


@pytest.fixture(scope="module")
def app_server(pg_cluster: str) -> Iterator[str]:
    """The app's own PostgreSQL (its `services: postgres`), with a table the unit tests try to write."""
    with own_server(pg_cluster, "CREATE TABLE writes (what text)") as url:
        yield url


def rows(url: str) -> List[str]:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT what FROM writes ORDER BY what")
        found = [r[0] for r in cur.fetchall()]
        cur.execute("TRUNCATE writes")
    conn.close()
    return found


@pytest.fixture
def env(pg_cluster: str, app_server: str) -> Dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    return dict(clean, ASYNC_TEST_PG_CLUSTER=pg_cluster, APP_DB_URL=app_server)


@pytest.mark.parametrize("mode", [[], ["--separate-passes"]], ids=["one-session", "separate-passes"])
def test_a_unit_test_never_writes_through_a_connection_opened_before_it(tmp_path: Path, env: Dict[str, str],
                                                                         app_server: str, mode: List[str]):
    project = write_files(tmp_path / "svc", {
        "pytest.ini": "[pytest]\nasync_test_block_db = true\naddopts = -p no:randomly -p no:cacheprovider\n",
        "app/__init__.py": "", "app/db.py": APP, "tests/test_flow.py": TESTS,
    })
    rows(app_server)  # empty
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                           str(tmp_path / "results"), "--no-coverage", *mode],
                          env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout[-5000:] + done.stderr[-3000:]
    assert rows(app_server) == ["integration"], out  # no unit test's write reached the database
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    unit = summary["passes"]["unit"]
    assert summary["passes"]["integration"]["counts"]["passed"] == 1, out
    assert unit["counts"]["failed"] == 3, out
    for failure in unit["failures"]:
        assert "Database access is blocked in unit test" in failure["message"], failure
    assert done.returncode == 1
