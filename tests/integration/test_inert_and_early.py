"""Installing the harness changes nothing for a suite that does not use it; configured, it exports
the database before the first conftest is imported (issue 11, items 1 and 5)."""

from __future__ import annotations

import json
import re
from typing import Dict

import pytest

ANYIO_SUITE = {
    "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
    "conftest.py": """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.fixture
        async def resource():
            import asyncio
            yield asyncio.get_running_loop()
    """,
    "tests/test_anyio.py": """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def asyncio_resource():
            yield asyncio.get_running_loop()

        @pytest.mark.anyio
        async def test_fixture_shares_the_test_loop(resource):
            assert resource is asyncio.get_running_loop()

        @pytest.mark.anyio
        async def test_queue_on_the_test_loop():
            queue = asyncio.Queue()
            await queue.put(1)
            assert await queue.get() == 1

        @pytest.mark.asyncio
        async def test_asyncio_marked(asyncio_resource):
            assert asyncio_resource is asyncio.get_running_loop()
    """,
}


def write(pytester: pytest.Pytester, files: Dict[str, str]) -> None:
    import textwrap

    for path, body in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(body))


def outcomes(result: pytest.RunResult) -> Dict[str, str]:
    """Each test's outcome from -rA's short summary: what a user compares between two runs."""
    found = {}
    for line in result.stdout.lines:
        match = re.match(r"(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_unconfigured_harness_leaves_an_anyio_suite_as_it_was(pytester, run_pytest, monkeypatch):
    monkeypatch.delenv("ASYNC_TEST_BLOCK_DB")  # not configured: only the machine's pg_cluster is set
    write(pytester, ANYIO_SUITE)
    without = run_pytest("-rA", "-p", "no:async_test")
    with_harness = run_pytest("-rA")
    assert without.ret == with_harness.ret == 0, with_harness.stdout.str()
    assert outcomes(with_harness) == outcomes(without) and len(outcomes(without)) == 3
    assert "not configured for this project" in with_harness.stdout.str()


def test_unconfigured_harness_leaves_a_suite_with_its_own_server_alone(pytester, run_pytest, monkeypatch):
    """A suite green against its own PostgreSQL: no blocking, no variables replaced, no loop change."""
    monkeypatch.delenv("ASYNC_TEST_BLOCK_DB")
    from async_test_harness.server.postgres import SupervisedServer

    server = SupervisedServer(cluster=__import__("os").environ["ASYNC_TEST_PG_CLUSTER"])
    info = server.start()
    try:
        monkeypatch.setenv("DATABASE_URL", f"postgresql://{info.user}:{info.password}@{info.host}:{info.port}/postgres")
        monkeypatch.setenv("PGDATABASE", "postgres")
        write(pytester, {
            "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
            "conftest.py": """
                import os
                URL = os.environ["DATABASE_URL"]  # read at import, as settings modules do
            """,
            "tests/unit/test_repo.py": """
                import asyncio, os
                import asyncpg
                import psycopg2
                from conftest import URL

                async def test_asyncpg_on_its_own_server():
                    conn = await asyncpg.connect(URL)
                    assert await conn.fetchval("select current_database()") == os.environ["PGDATABASE"]
                    await conn.close()

                def test_psycopg2_on_its_own_server():
                    with psycopg2.connect(URL) as conn, conn.cursor() as cur:
                        cur.execute("select 1")
                        assert cur.fetchone() == (1,)

                async def test_loop_is_per_test():
                    test_loop_is_per_test.loops = getattr(test_loop_is_per_test, "loops", []) + [
                        asyncio.get_running_loop()]
            """,
        })
        without = run_pytest("-rA", "-p", "no:async_test")
        with_harness = run_pytest("-rA")
    finally:
        server.stop()
    assert without.ret == 0, without.stdout.str()
    assert with_harness.ret == 0, with_harness.stdout.str()
    assert outcomes(with_harness) == outcomes(without) and len(outcomes(without)) == 3


ROOT_CONFTEST_READS_AT_IMPORT = """
    import os

    # A root conftest that builds its settings at import, before any pytest_configure hook.
    for name in ("DATABASE_URL", "PGPORT", "POSTGRES_PASSWORD", "APP_DSN"):
        assert os.environ.get(name), f"{name} is not set when the root conftest is imported"
    assert os.environ["APP_DSN"].startswith("postgresql+asyncpg://"), os.environ["APP_DSN"]
    DSN = os.environ["APP_DSN"]
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_configured_harness_exports_before_the_root_conftest(pytester, run_pytest, xdist):
    write(pytester, {
        "pytest.ini": "[pytest]\nasyncio_mode = auto\nasync_test_env = APP_DSN={async_url}\n",
        "conftest.py": ROOT_CONFTEST_READS_AT_IMPORT,
        "tests/integration/test_db.py": """
            import os
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import create_async_engine
            from conftest import DSN

            async def test_the_exported_dsn_is_this_process_database(async_db_session):
                engine = create_async_engine(DSN)
                async with engine.connect() as conn:
                    assert (await conn.execute(text("select current_database()"))).scalar() == os.environ["PGDATABASE"]
                await engine.dispose()
                assert "PostgreSQL" in (await async_db_session.execute(text("select version()"))).scalar()
        """,
    })
    result = run_pytest("-rA", *(["-n", "2"] if xdist else []))
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)


def test_anyio_tests_use_async_db_session(pytester, run_pytest):
    write(pytester, {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "conftest.py": """
            import pytest

            @pytest.fixture
            def anyio_backend():
                return "asyncio"
        """,
        "tests/test_anyio_db.py": """
            import pytest
            from sqlalchemy import text

            @pytest.mark.anyio
            async def test_writes(async_db_session):
                await async_db_session.execute(text("create table t (x int)"))
                await async_db_session.execute(text("insert into t values (1)"))
                await async_db_session.commit()
                assert (await async_db_session.execute(text("select count(*) from t"))).scalar() == 1

            @pytest.mark.anyio
            async def test_sees_nothing_of_the_previous_test(async_db_session):
                found = (await async_db_session.execute(text("select to_regclass('t')"))).scalar()
                assert found is None
        """,
    })
    result = run_pytest("-rA", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)


def test_an_app_that_needs_an_async_url_in_database_url_gets_a_hint(pytester, run_pytest, tmp_path, monkeypatch):
    """SQLAlchemy 2.0's create_async_engine("postgresql://...") imports psycopg2: the conftest fails
    at import with nothing about DATABASE_URL. The harness's export is the cause: it says so."""
    pytester.makeconftest("""
        import os

        if os.environ["DATABASE_URL"].startswith("postgresql://"):  # what create_async_engine would do
            raise ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")
    """)
    pytester.makepyfile(test_app="def test_nothing():\n    pass\n")
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(events))
    result = run_pytest()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*async-test: hint: DATABASE_URL is set by async-test in the libpq form*"])
    assert "async_test_env = DATABASE_URL={async_url}" in result.stderr.str()
    recorded = [json.loads(line) for line in events.read_text().splitlines()]
    assert "async_test_env = DATABASE_URL={async_url}" in recorded[0]["message"]


def test_no_hint_when_database_url_is_the_projects_own(pytester, run_pytest, monkeypatch):
    pytester.makeconftest("""
        raise ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")
    """)
    pytester.makepyfile(test_app="def test_nothing():\n    pass\n")
    monkeypatch.delenv("ASYNC_TEST_BLOCK_DB")  # unconfigured: the harness exports nothing
    result = run_pytest()
    assert result.ret == 4 and "async-test: hint" not in result.stderr.str()


def test_a_test_module_missing_a_package_names_the_extras_and_groups_settings(pytester, run_pytest, tmp_path,
                                                                              monkeypatch):
    """Issue 24: a driver from an extra the project's CI installs (`uv sync --all-extras`) and the
    image did not: the collection error says which settings ask for it."""
    pytester.makepyfile(test_driver="import not_installed_driver\n\ndef test_x():\n    pass\n",
                        test_other="def test_y():\n    pass\n")
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(events))
    run_pytest()
    recorded = [json.loads(line) for line in events.read_text().splitlines()]
    errors = [e for e in recorded if e.get("type") == "collect_error"]
    assert len(errors) == 1, recorded
    message = errors[0]["message"]
    assert "ModuleNotFoundError: No module named 'not_installed_driver'. hint: " in message, message
    assert "ASYNC_TEST_EXTRAS=all / ASYNC_TEST_GROUPS=all" in message
    assert "ASYNC_TEST_INSTALL_AFTER='uv pip install not_installed_driver'" in message
