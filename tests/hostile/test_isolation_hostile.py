"""State that one test leaves on the shared connection must not reach the next (issue 12, items 10-12).

A rollback undoes rows, settings, LISTEN and temporary tables; it does not undo session advisory
locks, SQL PREPAREd statements, sequences, or a transaction the test itself committed.
"""

from __future__ import annotations

import pytest

FUNCTION_LOOPS_INI = "asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"
LOOPS = pytest.mark.parametrize("loops", ["session-loop", "function-loops"])
SCHEMA = "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);\n"


def project(pytester: pytest.Pytester, loops: str, tests: str) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_schema_sql = schema.sql\n"
                     + (FUNCTION_LOOPS_INI if loops == "function-loops" else ""))
    (pytester.path / "schema.sql").write_text(SCHEMA)
    pytester.makepyfile(test_state=tests)


@LOOPS
def test_session_state_is_reset_between_tests(pytester, run_pytest, loops):
    project(pytester, loops, """
        from sqlalchemy import text

        async def test_a_leaves_a_lock_and_a_prepared_statement(async_db_session):
            await async_db_session.execute(text("SELECT pg_advisory_lock(4242)"))
            await async_db_session.execute(text("PREPARE mine AS SELECT 1"))

        async def test_b_starts_without_them(async_db_session):
            locks = await async_db_session.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"))
            prepared = await async_db_session.scalar(text("SELECT count(*) FROM pg_prepared_statements WHERE from_sql"))
            assert (locks, prepared) == (0, 0)
            await async_db_session.execute(text("PREPARE mine AS SELECT 2"))  # the name is free again

        async def test_c_the_driver_cache_still_works(async_db_session):
            for value in range(3):
                assert await async_db_session.scalar(text("SELECT :v").bindparams(v=value)) == value
    """)
    run_pytest("-v").assert_outcomes(passed=3)


@LOOPS
def test_a_raw_commit_fails_that_test_and_leaks_nothing(pytester, run_pytest, loops):
    project(pytester, loops, """
        from sqlalchemy import text

        async def test_a_commits_for_real(async_db_session):
            await async_db_session.execute(text("COMMIT"))
            await async_db_session.execute(text("INSERT INTO notes (body) VALUES ('leaked?')"))

        async def test_b_driver_rollback(async_db_session):
            raw = (await async_db_session.connection()).sync_connection.connection.driver_connection
            await raw.execute("ROLLBACK")
            await raw.execute("INSERT INTO notes (body) VALUES ('leaked too?')")

        async def test_c_sees_a_clean_database(async_db_session):
            assert await async_db_session.scalar(text("SELECT count(*) FROM notes")) == 0

        async def test_d_still_isolated(async_db_session):
            await async_db_session.execute(text("INSERT INTO notes (body) VALUES ('x')"))
            await async_db_session.commit()

        async def test_e_clean_again(async_db_session):
            assert await async_db_session.scalar(text("SELECT count(*) FROM notes")) == 0
    """)
    result = run_pytest("-v")
    result.assert_outcomes(passed=5, errors=2)
    out = " ".join(result.stdout.str().split())
    assert "ended the transaction that isolates it" in out and 'isolation="database"' in out
    result.stdout.fnmatch_lines(["*test_a_commits_for_real ERROR*", "*test_b_driver_rollback ERROR*"])


def test_reset_sequences_marker_restarts_ids(pytester, run_pytest):
    project(pytester, "session-loop", """
        import pytest
        from sqlalchemy import text

        INSERT = text("INSERT INTO notes (body) VALUES ('x') RETURNING id")

        async def test_a_takes_an_id(async_db_session):
            assert await async_db_session.scalar(INSERT) == 1

        @pytest.mark.integration(reset_sequences=True)
        async def test_b_starts_from_one_again(async_db_session):
            assert await async_db_session.scalar(INSERT) == 1

        async def test_c_without_the_marker_ids_move_on(async_db_session):
            assert await async_db_session.scalar(INSERT) == 2
    """)
    run_pytest("-v").assert_outcomes(passed=3)


def test_a_misspelt_marker_argument_fails_the_test(pytester, run_pytest):
    project(pytester, "session-loop", """
        import pytest

        @pytest.mark.integration(isolation="databse")
        async def test_typo(async_db_session):
            pass
    """)
    result = run_pytest("-v")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*isolation='databse'* is not valid*"])
