"""Unit vs integration: classification, selection, and the database blocked in unit tests."""

import pytest

SUITE = {
    "tests/unit/test_unit_path.py": """
        def test_unit_by_path():
            pass
    """,
    "tests/integration/test_integration_path.py": """
        def test_integration_by_path():
            pass
    """,
    "tests/test_own_db_url.py": """
        import pytest

        @pytest.fixture
        def db_url():
            return "sqlite://"  # the project's own db_url: a string, no database

        def test_uses_own_db_url_string(db_url):
            assert db_url == "sqlite://"
    """,
    "tests/test_mixed.py": """
        import pytest

        @pytest.mark.integration
        def test_marked_integration():
            pass

        @pytest.mark.unit
        def test_marked_unit(mock_db):
            pass

        async def test_uses_fixture(async_db_session):
            pass

        @pytest.fixture
        def db_session(async_db_session):
            return async_db_session

        def test_uses_configured_name_through_closure(db_session):
            pass

        @pytest.fixture
        def prepare_database():
            yield  # the project's own database fixture, declared in db_fixtures

        def test_uses_declared_fixture(prepare_database):
            pass

        @pytest.fixture
        def client(prepare_database):
            return object()

        def test_uses_declared_fixture_through_another(client):
            pass

        async def test_uses_fresh_database_fixture(async_test_database):
            pass

        @pytest.mark.integration(isolation="database")
        async def test_marked_database_isolation():
            pass

        def test_plain():
            pass
    """,
}


def write_suite(pytester):
    for path, body in SUITE.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        import textwrap

        target.write_text(textwrap.dedent(body))
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_db_fixtures = db_session, prepare_database\n")


def test_collect_only_shows_each_test_kind_and_reason(pytester, run_pytest):
    write_suite(pytester)
    result = run_pytest("--collect-only", "-v")
    out = result.stdout.str()
    expected = {
        "tests/unit/test_unit_path.py::test_unit_by_path": ("unit", "path matches '*/unit/*'"),
        "tests/integration/test_integration_path.py::test_integration_by_path": ("integration", "path matches"),
        "tests/test_mixed.py::test_marked_integration": ("integration", "marker"),
        "tests/test_mixed.py::test_marked_unit": ("unit", "marker"),
        "tests/test_mixed.py::test_uses_fixture": ("integration", "uses database fixture 'async_db_session'"),
        "tests/test_mixed.py::test_uses_configured_name_through_closure": ("integration", "uses database fixture"),
        "tests/test_mixed.py::test_plain": ("unit", "no database fixture"),
        "tests/test_own_db_url.py::test_uses_own_db_url_string": ("unit", "no database fixture"),
        "tests/test_mixed.py::test_uses_declared_fixture": ("integration", "'prepare_database'"),
        "tests/test_mixed.py::test_uses_declared_fixture_through_another": ("integration", "'prepare_database'"),
        "tests/test_mixed.py::test_uses_fresh_database_fixture": ("integration", "'async_test_database'"),
        "tests/test_mixed.py::test_marked_database_isolation": ("integration", "marker"),
    }
    for nodeid, (kind, reason) in expected.items():
        line = next(line for line in out.splitlines() if line.startswith("async-test:") and nodeid in line)
        assert line.split()[1] == kind and reason in line, line
    assert "async-test: 4 unit, 8 integration" in out


@pytest.mark.parametrize("kind, passed, deselected", [("unit", 4, 8), ("integration", 8, 4), ("all", 12, 0)])
def test_kind_selects_tests(pytester, run_pytest, kind, passed, deselected):
    write_suite(pytester)
    result = run_pytest(f"--async-test-kind={kind}")
    result.assert_outcomes(passed=passed, deselected=deselected)


def test_unit_selection_starts_no_server_and_blocks_every_route(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_block="""
        import os
        import socket
        import pytest
        import asyncpg
        import psycopg2
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy import text
        from async_test_harness import DatabaseBlockedError

        async def test_asyncpg():
            with pytest.raises(DatabaseBlockedError, match="test_block.py::test_asyncpg"):
                await asyncpg.connect(os.environ["DATABASE_URL"])

        async def test_sqlalchemy_engine():
            engine = create_async_engine(os.environ["ASYNC_DATABASE_URL"])
            with pytest.raises(DatabaseBlockedError, match="mock_db"):
                async with engine.connect() as conn:
                    await conn.execute(text("select 1"))

        def test_psycopg2():
            with pytest.raises(DatabaseBlockedError):
                psycopg2.connect(os.environ["DATABASE_URL"])

        def test_raw_socket():
            s = socket.socket()
            with pytest.raises(DatabaseBlockedError, match="socket connect"):
                s.connect(("127.0.0.1", int(os.environ["PGPORT"])))
            s.close()

        def test_other_sockets_still_work():
            server = socket.socket()
            server.bind(("127.0.0.1", 0)); server.listen(1)
            client = socket.create_connection(server.getsockname())
            client.close(); server.close()
    """)
    result = run_pytest("-v", "--async-test-kind=unit")
    result.assert_outcomes(passed=5)
    assert "no database started" in result.stdout.str()


def test_a_blocked_unit_test_fails_with_a_clear_message(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_oops="""
        import os, asyncpg

        async def test_forgot_to_mock():
            await asyncpg.connect(os.environ["DATABASE_URL"])
    """)
    result = run_pytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*DatabaseBlockedError: Database access is blocked in unit test 'test_oops.py::test_forgot_to_mock'*"
    ])
    out = " ".join(result.stdout.str().split())
    # the settings that reclassify a test without editing it, not only code changes
    assert "ASYNC_TEST_DB_FIXTURES=" in out and "ASYNC_TEST_INTEGRATION_PATHS=" in out and "block_db" in out


def test_db_fixture_in_the_unit_selection_explains_itself(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_u="""
        import pytest

        @pytest.mark.unit
        async def test_u(async_db_session):
            pass
    """)
    result = run_pytest("--async-test-kind=unit")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*kind=unit*no database was started*"])


def test_block_db_can_be_turned_off(pytester, run_pytest, monkeypatch):
    monkeypatch.delenv("ASYNC_TEST_BLOCK_DB")  # the project's own setting below decides
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_block_db = false\n")
    pytester.makepyfile(test_free="""
        import os, asyncpg

        async def test_connects_without_fixture():
            conn = await asyncpg.connect(os.environ["DATABASE_URL"])
            await conn.close()
    """)
    run_pytest().assert_outcomes(passed=1)


def test_invalid_setting_is_a_usage_error_listing_valid_values(pytester, run_pytest):
    pytester.makeini("[pytest]\nasync_test_kind = smoke\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*kind (from ini async_test_kind) is 'smoke'*Valid values: all, unit, integration*"])


def test_a_broad_fixture_keeps_the_blocking_of_its_set_up(pytester, run_pytest):
    """In one session the kinds run in the project's order (issue 22 item 2): a session fixture an
    integration test set up is torn down unblocked although the run's last test is a unit test, as
    the integration process tore it down; one whose set-up was refused to a unit test is set up
    again, unblocked, by the next integration test that asks for it."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_order="""
        import asyncio
        import os

        import asyncpg
        import pytest

        def query(sql):
            async def go():
                conn = await asyncpg.connect(os.environ["DATABASE_URL"])
                try:
                    return await conn.fetchval(sql)
                finally:
                    await conn.close()
            return asyncio.run(go())

        @pytest.fixture(scope="session")
        def table():
            query("CREATE TABLE IF NOT EXISTS seen (x int)")
            yield
            query("DROP TABLE seen")  # after the last test, a unit test: must not be blocked

        @pytest.fixture(scope="session")
        def answer():
            return query("SELECT 42")

        @pytest.mark.integration
        def test_1_integration_sets_up_the_table(table):
            assert query("SELECT count(*) FROM seen") == 0

        @pytest.mark.unit
        def test_2_unit_asks_for_a_database_fixture(answer):
            pass

        @pytest.mark.integration
        def test_3_integration_gets_it_anyway(answer):
            assert answer == 42

        @pytest.mark.unit
        def test_4_last_test_is_a_unit_test():
            pass
    """)
    result = run_pytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_2_unit_asks_for_a_database_fixture ERROR*"])
    out = result.stdout.str()
    assert out.count("Database access is blocked") >= 1 and "test_4_last_test_is_a_unit_test ERROR" not in out
