"""Queries per test (issue 17 item 5) on a real PostgreSQL: each test's count, the assert fixtures,
and the heaviest tests in summary.json, summary.md after a real ``async-test run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from helpers import assert_summary_round_trip, write_files

FUNCTION_LOOPS_INI = "asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"

COUNTED = '''
import pytest
from sqlalchemy import text


async def test_no_commit(async_db_session):
    await async_db_session.execute(text("CREATE TABLE t (x int)"))
    await async_db_session.execute(text("INSERT INTO t VALUES (1)"))
    assert await async_db_session.scalar(text("SELECT count(*) FROM t")) == 1


async def test_commits(async_db_session):
    """The same three statements, each followed by a commit (RELEASE SAVEPOINT, then SAVEPOINT)."""
    await async_db_session.execute(text("CREATE TABLE t (x int)"))
    await async_db_session.commit()
    await async_db_session.execute(text("INSERT INTO t VALUES (1)"))
    await async_db_session.commit()
    assert await async_db_session.scalar(text("SELECT count(*) FROM t")) == 1
    await async_db_session.commit()


async def test_nests_and_rolls_back(async_db_session):
    await async_db_session.execute(text("CREATE TABLE t (x int)"))
    async with async_db_session.begin_nested():
        await async_db_session.execute(text("INSERT INTO t VALUES (1)"))
    await async_db_session.rollback()
    assert await async_db_session.scalar(text("SELECT to_regclass('t') IS NULL"))


async def test_engine(async_engine):
    async with async_engine.begin() as conn:
        await conn.execute(text("SELECT 1"))
        await conn.exec_driver_sql("SELECT 2")


async def test_nothing(async_db_session):
    pass


@pytest.fixture
async def seeded(async_db_session):
    await async_db_session.execute(text("CREATE TABLE s (x int)"))
    yield
    await async_db_session.execute(text("DROP TABLE s"))


async def test_fixture_statements_count(seeded, async_db_session):
    await async_db_session.execute(text("SELECT * FROM s"))


@pytest.mark.integration(reset_sequences=True)
async def test_reset_sequences_is_not_counted(async_db_session):
    await async_db_session.execute(text("SELECT 1"))


@pytest.mark.integration(isolation="database")
async def test_database_of_its_own(async_db_session):
    await async_db_session.execute(text("CREATE TABLE o (x int)"))
    await async_db_session.commit()


async def test_fails_after_two(async_db_session):
    await async_db_session.execute(text("SELECT 1"))
    await async_db_session.execute(text("SELECT 2"))
    assert False, "on purpose"


async def test_zz_last(async_db_session):
    await async_db_session.execute(text("SELECT 1"))
'''

EXPECTED = {
    "test_no_commit": 3, "test_commits": 3, "test_nests_and_rolls_back": 3, "test_engine": 2,
    "test_fixture_statements_count": 3, "test_reset_sequences_is_not_counted": 1, "test_database_of_its_own": 1,
    "test_fails_after_two": 2, "test_zz_last": 1,
}


def statements_by_test(events: Path) -> Dict[str, int]:
    found: Dict[str, int] = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event.get("type") in ("test", "statements") and event.get("statements"):
            name = event["nodeid"].split("::")[-1]
            assert name not in found, f"{name} counted twice"
            found[name] = event["statements"]
    return found


@pytest.mark.parametrize("loops", ["harness-default", "function-loops"])
def test_each_test_counts_its_own_statements_and_no_transaction_control(pytester, run_pytest, monkeypatch, loops):
    """With and without the code under test committing, nested, rolled back; the session's, the
    engine's and a project fixture's statements; neither the isolation's ROLLBACK/BEGIN/SAVEPOINT
    nor reset_sequences; a failing test's count too."""
    events = pytester.path / "events.jsonl"
    pytester.makeini("[pytest]\nasyncio_mode = auto\n" + (FUNCTION_LOOPS_INI if loops == "function-loops" else ""))
    pytester.makepyfile(test_counted=COUNTED)
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(events))
    run_pytest("-v", "--junitxml", str(pytester.path / "junit.xml")).assert_outcomes(passed=9, failed=1)
    assert statements_by_test(events) == EXPECTED
    junit = (pytester.path / "junit.xml").read_text()
    assert '<property name="async_test_statements" value="3" />' in junit


ASSERTED = '''
import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def test_exact_passes_and_lists_what_it_saw(async_db_session, assert_num_queries):
    with assert_num_queries(2) as captured:
        await async_db_session.execute(text("CREATE TABLE t (x int)"))
        await async_db_session.commit()
        await async_db_session.execute(text("SELECT count(*) FROM t"))
    assert captured.statements == ["CREATE TABLE t (x int)", "SELECT count(*) FROM t"]


async def test_max_passes_with_async_with(async_db_session, assert_max_queries):
    async with assert_max_queries(3) as captured:
        await async_db_session.execute(text("SELECT 1"))
    assert len(captured) == 1


async def test_exact_false_is_at_most(async_db_session, assert_num_queries):
    with assert_num_queries(5, exact=False):
        await async_db_session.execute(text("SELECT 1"))


async def test_connection_counts_one_engine(async_db_session, assert_num_queries):
    own = create_async_engine(os.environ["ASYNC_DATABASE_URL"])  # the project's own engine
    try:
        with assert_num_queries(1, connection=own) as theirs, assert_num_queries(1, connection=async_db_session):
            await async_db_session.execute(text("SELECT 'session'"))
            async with own.connect() as conn:
                await conn.execute(text("SELECT 'own'"))
    finally:
        await own.dispose()
    assert theirs.statements == ["SELECT 'own'"]


async def test_exact_fails(async_db_session, assert_num_queries):
    with assert_num_queries(1, info="the users page"):
        await async_db_session.execute(text("SELECT CAST(:secret AS text)"), {"secret": "hunter2"})
        await async_db_session.execute(text("SELECT 'two'"))


async def test_max_fails(async_db_session, assert_max_queries):
    async with assert_max_queries(0):
        await async_db_session.execute(text("SELECT 'only'"))


async def test_the_blocks_own_error_wins(async_db_session, assert_num_queries):
    with assert_num_queries(5):
        await async_db_session.execute(text("SELECT 1"))
        raise LookupError("the block's own error")
'''


def test_assert_fixtures_pass_and_fail_with_the_statements_listed(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_asserted=ASSERTED)
    result = run_pytest("-v", "--tb=short")
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines([
        "*test_exact_fails*",
        "E   Failed: Expected 1 query, 2 were executed (the users page):",
        "E   1. SELECT CAST($1* AS text)",
        "E   2. SELECT 'two'",
    ])
    result.stdout.fnmatch_lines([
        "*test_max_fails*",
        "E   Failed: Expected at most 0 queries, 1 was executed:",
        "E   1. SELECT 'only'",
    ])
    result.stdout.fnmatch_lines(["*test_the_blocks_own_error_wins*", "E   LookupError: the block's own error"])
    failure_lines = [line for line in result.stdout.lines if line.startswith("E ")]
    assert failure_lines and not any("hunter2" in line for line in failure_lines), "parameters are never shown"


INTEGRATION = '''
import pytest
from sqlalchemy import text


@pytest.mark.asyncio
async def test_heavy(async_db_session):
    for n in range(7):
        await async_db_session.execute(text(f"SELECT {n}"))


@pytest.mark.asyncio
async def test_light(async_db_session):
    await async_db_session.execute(text("SELECT 1"))
    await async_db_session.commit()


@pytest.mark.asyncio
async def test_fails_after_three(async_db_session):
    for n in range(3):
        await async_db_session.execute(text(f"SELECT {n}"))
    assert False


@pytest.mark.asyncio
async def test_none(async_db_session):
    pass
'''


@pytest.mark.parametrize("mode", [[], ["--separate-passes"], ["--", "-n", "2"]],
                         ids=["one-session", "separate-passes", "xdist"])
def test_the_heaviest_tests_reach_summary_json_and_summary_md(tmp_path, pg_cluster, mode):
    project = write_files(tmp_path / "svc", {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "tests/unit/test_unit.py": "def test_unit():\n    pass\n",
        "tests/integration/test_db.py": INTEGRATION,
    })
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    env["ASYNC_TEST_PG_CLUSTER"] = pg_cluster
    results = tmp_path / "results"
    args = ["--no-coverage", *mode] if mode[:1] != ["--"] else ["--no-coverage", *mode, "-p", "no:randomly"]
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project),
                           "--results-dir", str(results), *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((results / "summary.json").read_text())
    heaviest = summary["passes"]["integration"]["heaviest"]
    assert heaviest == [
        {"nodeid": "tests/integration/test_db.py::test_heavy", "statements": 7},
        {"nodeid": "tests/integration/test_db.py::test_fails_after_three", "statements": 3},
        {"nodeid": "tests/integration/test_db.py::test_light", "statements": 1},
    ], done.stdout[-3000:]
    assert summary["passes"]["unit"]["heaviest"] == []
    assert_summary_round_trip(results / "summary.json")
    markdown = (results / "summary.md").read_text()
    assert ("## Heaviest tests by SQL statements\n\n| test | statements |\n|---|---:|\n"
            "| `tests/integration/test_db.py::test_heavy` | 7 |\n") in markdown
