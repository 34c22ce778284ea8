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
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")


def test_collect_only_shows_each_test_kind_and_reason(pytester, run_pytest):
    write_suite(pytester)
    result = run_pytest("--collect-only", "-v")
    out = result.stdout.str()
    expected = {
        "tests/unit/test_unit_path.py::test_unit_by_path": ("unit", "path matches '*/unit/*'"),
        "tests/integration/test_integration_path.py::test_integration_by_path": ("integration", "path matches"),
        "tests/test_mixed.py::test_marked_integration": ("integration", "marker"),
        "tests/test_mixed.py::test_marked_unit": ("unit", "marker"),
        "tests/test_mixed.py::test_uses_fixture": ("integration", "uses fixture 'async_db_session'"),
        "tests/test_mixed.py::test_uses_configured_name_through_closure": ("integration", "uses fixture"),
        "tests/test_mixed.py::test_plain": ("unit", "no database fixture"),
    }
    for nodeid, (kind, reason) in expected.items():
        line = next(line for line in out.splitlines() if line.startswith("async-test:") and nodeid in line)
        assert line.split()[1] == kind and reason in line, line
    assert "async-test: 3 unit, 4 integration" in out


@pytest.mark.parametrize("kind, passed, deselected", [("unit", 3, 4), ("integration", 4, 3), ("all", 7, 0)])
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


def test_block_db_can_be_turned_off(pytester, run_pytest):
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
