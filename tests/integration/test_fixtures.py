"""The fixtures, run through pytest exactly as a user's suite would run them."""

import pytest

from async_test_harness.plugin.event_loops import FIXTURES_FOLLOW_TEST_LOOP, PYTEST_ASYNCIO

ISOLATION_TESTS = """
from sqlalchemy import text

async def test_a_commits(async_db_session):
    await async_db_session.execute(text("CREATE TABLE leak (x int)"))
    await async_db_session.execute(text("INSERT INTO leak VALUES (1)"))
    await async_db_session.commit()
    assert await async_db_session.scalar(text("SELECT count(*) FROM leak")) == 1

async def test_b_sees_nothing(async_db_session):
    found = await async_db_session.scalar(text("SELECT to_regclass('leak') IS NOT NULL"))
    assert found is False

async def test_c_rollback_inside_test_is_fine(async_db_session):
    await async_db_session.execute(text("CREATE TABLE t2 (x int)"))
    await async_db_session.rollback()
    assert await async_db_session.scalar(text("SELECT to_regclass('t2') IS NULL"))

async def test_d_engine_and_urls(async_engine, db_url, db_sync_url):
    assert db_url.startswith("postgresql+asyncpg://") and db_sync_url.startswith("postgresql://")
    async with async_engine.connect() as conn:
        assert await conn.scalar(text("SELECT current_database()")) == "test_main"
"""


# pytest-asyncio < 0.26 has no asyncio_default_test_loop_scope: tests always get function loops there.
HAS_TEST_LOOP_SCOPE = PYTEST_ASYNCIO >= (0, 26)
OLD_LINE = "loop scope: function (this pytest-asyncio has no asyncio_default_test_loop_scope"
# 0.24 and 0.25 know the fixture loop scope option but not the test one: a session fixture
# loop then meets function test loops, which the harness reports instead of failing in asyncpg.
MISMATCH = (0, 24) <= PYTEST_ASYNCIO < (0, 26)


@pytest.mark.parametrize(
    "ini, scope_line, mismatch",
    [
        ("", "loop scope: session, set by async-test" if HAS_TEST_LOOP_SCOPE else OLD_LINE, False),
        ("asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n",
         "loop scope: the project's own" if HAS_TEST_LOOP_SCOPE else OLD_LINE, False),
        ("asyncio_default_fixture_loop_scope = session\nasyncio_default_test_loop_scope = session\n",
         "loop scope: the project's own" if HAS_TEST_LOOP_SCOPE else OLD_LINE, MISMATCH),
        ("async_test_loop_scope = project\n",
         "loop scope: left to the project" if HAS_TEST_LOOP_SCOPE else OLD_LINE, False),
    ],
    ids=["harness-default", "function-loops", "project-session-loops", "opt-out"],
)
def test_commits_never_leak_to_the_next_test(pytester, run_pytest, ini, scope_line, mismatch):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n" + ini)
    pytester.makepyfile(test_isolation=ISOLATION_TESTS)
    result = run_pytest("-v")
    result.stdout.fnmatch_lines([f"*{scope_line}*"])
    assert "attached to a different loop" not in result.stdout.str()
    if HAS_TEST_LOOP_SCOPE and not ini:
        # set before pytest-asyncio reads it: no warning that the option the header shows set is unset
        assert '"asyncio_default_fixture_loop_scope" is unset' not in result.stdout.str() + result.stderr.str()
    if mismatch:
        result.assert_outcomes(errors=4)
        result.stdout.fnmatch_lines(["*a database connection cannot cross loops*"])
    else:
        result.assert_outcomes(passed=4)


FUNCTION_LOOPS_INI = "asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"


@pytest.mark.parametrize("loops", ["harness-default", "function-loops"])
def test_one_connection_serves_every_test(pytester, run_pytest, loops):
    """Session loop: the loop's connection. Function loops: one connection on the bridge's home loop."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n" + (FUNCTION_LOOPS_INI if loops == "function-loops" else ""))
    pytester.makepyfile(test_reuse="""
        import pytest
        from async_test_harness.engine import connection_cache

        @pytest.mark.parametrize("i", range(20))
        async def test_many(async_db_session, i):
            pass

        def test_zz_count():
            print("OPENED", connection_cache.connection_count())
            assert connection_cache.connection_count() == 1
    """)
    run_pytest("-s").assert_outcomes(passed=21)


def test_mixed_loop_scopes_never_see_a_foreign_connection(pytester, run_pytest):
    """Tests that pin their own loop scope next to default ones: the harness falls back per loop."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_mixed="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.asyncio(loop_scope="function")
        async def test_function_loop_1(async_db_session):
            assert await async_db_session.scalar(text("SELECT 1")) == 1

        async def test_session_loop(async_db_session):
            assert await async_db_session.scalar(text("SELECT 2")) == 2

        @pytest.mark.asyncio(loop_scope="function")
        async def test_function_loop_2(async_db_session):
            await async_db_session.execute(text("CREATE TABLE x (i int)"))
            await async_db_session.commit()

        async def test_session_loop_again(async_db_session):
            assert await async_db_session.scalar(text("SELECT to_regclass('x') IS NULL"))
    """)
    result = run_pytest("-v", "-W", "error::ResourceWarning")
    assert "attached to a different loop" not in result.stdout.str()
    if FIXTURES_FOLLOW_TEST_LOOP or not HAS_TEST_LOOP_SCOPE:
        result.assert_outcomes(passed=4)  # (before 0.26 every test runs in a function loop anyway)
    else:  # 0.26-1.0 fix a fixture's loop at collection: a clear error for the two pinned tests
        result.assert_outcomes(passed=2, errors=2)
        result.stdout.fnmatch_lines(["*a database connection cannot cross loops*pytest-asyncio to >= 1.1*"])


def test_strict_mode_works(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    pytester.makepyfile(test_strict="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.asyncio
        async def test_strict(async_db_session):
            assert await async_db_session.scalar(text("SELECT 1")) == 1
    """)
    run_pytest().assert_outcomes(passed=1)


def test_fresh_database_marker_gives_real_commits_and_is_dropped(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_fresh="""
        import pytest
        from sqlalchemy import text

        NAMES = []

        @pytest.mark.integration(isolation="database")
        async def test_fresh(async_engine, db_url):
            NAMES.append(db_url.rsplit("/", 1)[1])
            async with async_engine.begin() as conn:
                await conn.execute(text("CREATE TABLE kept (x int)"))
            async with async_engine.connect() as other:  # a second connection sees the commit
                assert await other.scalar(text("SELECT to_regclass('kept') IS NOT NULL"))

        async def test_after(async_db_session):
            assert NAMES and NAMES[0] != "test_main"
            names = (await async_db_session.execute(text("SELECT datname FROM pg_database"))).scalars().all()
            assert NAMES[0] not in names, "the fresh database was dropped"
            assert await async_db_session.scalar(text("SELECT to_regclass('kept') IS NULL"))
    """)
    run_pytest("-v").assert_outcomes(passed=2)


def test_environment_is_exported_before_collection(pytester, run_pytest):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\n"
        "async_test_env =\n"
        "    DB_URI=postgresql+asyncpg://{user}:{password}@{host}:{port}\n"
        "    TEST_DATABASE_URI_SYNC=postgresql+psycopg2://{user}:{password}@{host}:{port}/{database}\n"
    )
    pytester.makepyfile(test_env="""
        import os
        import asyncpg
        import pytest
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy import text

        AT_IMPORT = {k: os.environ.get(k) for k in (
            "DATABASE_URL", "ASYNC_DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE",
            "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "DB_URI",
            "TEST_DATABASE_URI_SYNC")}

        def test_all_names_present():
            missing = [k for k, v in AT_IMPORT.items() if not v]
            assert not missing
            assert AT_IMPORT["POSTGRES_DB"] == "test_main"
            assert AT_IMPORT["DB_URI"].count("/") == 2  # no database name, as the template says

        @pytest.mark.integration
        async def test_libpq_variables_connect():
            conn = await asyncpg.connect()  # asyncpg reads PG* like libpq
            assert await conn.fetchval("SELECT current_database()") == "test_main"
            await conn.close()

        async def test_the_async_url_connects(async_db_session):
            engine = create_async_engine(AT_IMPORT["ASYNC_DATABASE_URL"])
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
            await engine.dispose()
    """)
    result = run_pytest("-v")
    result.assert_outcomes(passed=3)


def test_password_never_printed(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_pw="""
        import os
        def test_print_password_to_file():
            open("pw.txt", "w").write(os.environ["PGPASSWORD"])
    """)
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    password = (pytester.path / "pw.txt").read_text()
    assert len(password) > 10
    assert password not in result.stdout.str() + result.stderr.str()
    assert "async-test: database postgresql://postgres:***@127.0.0.1:" in result.stdout.str()


def test_user_conftest_fixture_overrides_ours(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def async_db_session():
            return "mine"

        @pytest.fixture
        def mock_db():
            return "my mock"
    """)
    pytester.makepyfile(test_override="""
        def test_mine(async_db_session, mock_db):
            assert async_db_session == "mine" and mock_db == "my mock"
    """)
    run_pytest().assert_outcomes(passed=1)


def test_lazy_start_when_the_project_does_not_configure_the_harness(pytester, run_pytest, monkeypatch):
    monkeypatch.delenv("ASYNC_TEST_PG_CLUSTER")
    monkeypatch.delenv("ASYNC_TEST_BLOCK_DB")  # nothing configured
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_lazy="""
        import os
        from sqlalchemy import text

        def test_plain():
            assert "PGDATABASE" not in os.environ  # nothing started before it was needed

        async def test_db(async_db_session):
            assert await async_db_session.scalar(text("SELECT 1")) == 1
            assert os.environ["PGDATABASE"] == "test_main"
    """)
    result = run_pytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*not configured for this project: inert until a test uses*"])


def test_api_client_overrides_the_session_dependency(pytester, run_pytest):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasync_test_app = app:app\nasync_test_session_dependency = app:get_session\n"
    )
    pytester.makepyfile(app="""
        from fastapi import Depends, FastAPI
        from sqlalchemy import text

        app = FastAPI()

        async def get_session():
            raise RuntimeError("the real dependency must not run in tests")
            yield

        @app.post("/t")
        async def create(db=Depends(get_session)):
            await db.execute(text("CREATE TABLE IF NOT EXISTS t (x int)"))
            await db.execute(text("INSERT INTO t VALUES (1)"))
            await db.commit()
            return {"n": await db.scalar(text("SELECT count(*) FROM t"))}
    """)
    pytester.makepyfile(test_api="""
        from sqlalchemy import text

        async def test_post(api_client, async_db_session):
            response = await api_client.post("/t")
            assert response.json() == {"n": 1}
            assert await async_db_session.scalar(text("SELECT count(*) FROM t")) == 1

        async def test_rolled_back(async_db_session):
            assert await async_db_session.scalar(text("SELECT to_regclass('t') IS NULL"))
    """)
    run_pytest("-v").assert_outcomes(passed=2)


def test_api_client_without_settings_says_what_to_set(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_api="""
        async def test_post(api_client):
            pass
    """)
    result = run_pytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*api_client needs the FastAPI app: set async_test_app*"])


ITEM_MODEL = """
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
"""

SAVEPOINT_TESTS = """
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

COUNTS = []

@pytest.mark.parametrize("i", range(12))
async def test_service_commits_fails_rolls_back_and_goes_on(async_db_session, i):
    s = async_db_session
    await s.execute(text("INSERT INTO item VALUES (1)"))
    await s.commit()                                    # the service commits: RELEASE, not COMMIT
    with pytest.raises(IntegrityError):
        await s.execute(text("INSERT INTO item VALUES (1)"))
    await s.rollback()                                  # back to the last commit, session usable
    await s.execute(text("INSERT INTO item VALUES (2)"))
    await s.commit()
    assert await s.scalar(text("SELECT count(*) FROM item")) == 2
    COUNTS.append(await s.scalar(text("SELECT count(*) FROM pg_prepared_statements")))

async def test_raw_asyncpg_transaction_is_a_savepoint_inside_the_test(async_db_session):
    raw = (await (await async_db_session.connection()).get_raw_connection()).driver_connection
    async with raw.transaction():                       # e.g. a repository that COPYs in a transaction
        await raw.execute("INSERT INTO item VALUES (7)")
    assert await async_db_session.scalar(text("SELECT count(*) FROM item")) == 1

def test_zz_prepared_statements_do_not_pile_up():
    # one prepared SAVEPOINT per nesting level, reused by every test; not one more per test
    assert len(COUNTS) == 12 and COUNTS[-1] == COUNTS[1], COUNTS

async def test_zz_nothing_was_kept(async_engine):
    async with async_engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM item")) == 0
"""


@pytest.mark.parametrize("loops", ["harness-default", "function-loops"])
def test_commit_and_rollback_in_the_code_under_test_behave_as_in_production(pytester, run_pytest, loops):
    ini = "[pytest]\nasyncio_mode = auto\npythonpath = .\nasync_test_metadata = models:Base\n"
    pytester.makepyfile(models=ITEM_MODEL)
    if loops == "function-loops":
        ini += FUNCTION_LOOPS_INI
    pytester.makeini(ini)
    pytester.makepyfile(test_savepoints=SAVEPOINT_TESTS)
    run_pytest("-v").assert_outcomes(passed=15)


def test_idle_connection_between_tests_holds_no_snapshot_and_survives_server_timeouts(pytester, run_pytest):
    """Between tests the harness's connection waits inside an open transaction: harmless."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_idle="""
        import time
        from sqlalchemy import text

        async def test_a_strict_server(async_engine):
            async with async_engine.begin() as conn:  # what some DBAs set: kill idle transactions
                await conn.execute(text("ALTER ROLE CURRENT_USER SET idle_in_transaction_session_timeout = '200ms'"))

        async def test_b_first_use(async_db_session):
            assert await async_db_session.scalar(text("SELECT 1")) == 1

        def test_c_slow_sync_test():
            time.sleep(1)

        async def test_d_still_usable(async_db_session, async_engine):
            pid = await async_db_session.scalar(text("SELECT pg_backend_pid()"))
            async with async_engine.connect() as other:
                row = (await other.execute(
                    text("SELECT state, backend_xmin FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})).one()
            assert row.state == "idle in transaction"

        async def test_e_a_fresh_test_holds_no_snapshot(async_db_session, async_engine):
            async with async_engine.connect() as other:
                xmins = (await other.execute(text(
                    "SELECT backend_xmin FROM pg_stat_activity WHERE state = 'idle in transaction'"))).scalars().all()
            assert xmins == [None], xmins

        async def test_f_reset(async_engine):
            async with async_engine.begin() as conn:
                await conn.execute(text("ALTER ROLE CURRENT_USER RESET idle_in_transaction_session_timeout"))
    """)
    run_pytest("-v").assert_outcomes(passed=6)


@pytest.mark.parametrize("loops", ["harness-default", "function-loops"])
def test_a_connection_killed_between_tests_fails_one_test_at_most(pytester, run_pytest, loops):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n" + (FUNCTION_LOOPS_INI if loops == "function-loops" else ""))
    pytester.makepyfile(test_killed="""
        import pytest
        from sqlalchemy import text

        PIDS = []

        async def test_a(async_db_session):
            PIDS.append(await async_db_session.scalar(text("SELECT pg_backend_pid()")))

        async def test_b_kill_it(async_engine):
            async with async_engine.connect() as conn:
                assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": PIDS[0]})

        async def test_c(async_db_session):
            await async_db_session.scalar(text("SELECT 1"))

        async def test_d_next_test_has_a_new_connection(async_db_session):
            assert await async_db_session.scalar(text("SELECT pg_backend_pid()")) != PIDS[0]
    """)
    result = run_pytest("-v")
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 3 and outcomes.get("failed", 0) <= 1
    result.stdout.fnmatch_lines(["*test_d_next_test_has_a_new_connection PASSED*"])


def test_function_loops_share_one_connection_that_works_like_a_plain_asyncpg_one(pytester, run_pytest):
    """Function-scoped loops: the connection lives on the bridge's home loop (engine/relay.py). The raw
    driver connection is a relay, not an asyncpg.Connection (docs/fixtures.md says so); what a test
    does with it still works, and callbacks come back to its own loop."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n" + FUNCTION_LOOPS_INI)
    pytester.makepyfile(test_bridge="""
        import asyncio, threading
        import asyncpg
        from sqlalchemy import text

        LOOPS, PIDS = [], []

        async def raw(session):
            return (await (await session.connection()).get_raw_connection()).driver_connection

        async def test_a_driver_api(async_db_session):
            LOOPS.append(asyncio.get_running_loop())
            conn = await raw(async_db_session)
            assert not isinstance(conn, asyncpg.Connection)  # a relay of one: the visible effect
            PIDS.append(await conn.fetchval("SELECT pg_backend_pid()"))
            await conn.execute("CREATE TABLE t (i int)")
            await conn.copy_records_to_table("t", records=[(1,), (2,), (3,)])
            stmt = await conn.prepare("SELECT i FROM t WHERE i > $1 ORDER BY i")
            assert [r["i"] for r in await stmt.fetch(1)] == [2, 3]
            assert [r["i"] async for r in conn.cursor("SELECT i FROM t ORDER BY i")] == [1, 2, 3]
            async with conn.transaction():
                await conn.execute("INSERT INTO t VALUES (4)")
            assert await conn.fetchval("SELECT count(*) FROM t") == 4

        async def test_b_orm_streaming(async_db_session):
            LOOPS.append(asyncio.get_running_loop())
            PIDS.append(await async_db_session.scalar(text("SELECT pg_backend_pid()")))
            result = await async_db_session.stream(text("SELECT generate_series(1, 5)"))
            assert [row[0] async for row in result] == [1, 2, 3, 4, 5]
            assert await async_db_session.scalar(text("SELECT to_regclass('t') IS NULL"))

        async def test_c_log_listener_runs_in_the_tests_loop(async_db_session):
            conn = await raw(async_db_session)
            heard = []
            def listener(connection, message):
                heard.append((threading.current_thread() is threading.main_thread(), message.message, connection))
            conn.add_log_listener(listener)
            await conn.execute("DO $$ BEGIN RAISE NOTICE 'hello'; END $$")
            for _ in range(100):
                if heard:
                    break
                await asyncio.sleep(0.01)
            conn.remove_log_listener(listener)
            assert heard[0][:2] == (True, "hello")
            assert await heard[0][2].fetchval("SELECT 7") == 7

        async def test_d_cancelled_query(async_db_session):
            try:
                await asyncio.wait_for(async_db_session.execute(text("SELECT pg_sleep(5)")), 0.3)
            except asyncio.TimeoutError:
                pass
            else:
                raise AssertionError("pg_sleep(5) finished within 0.3 s")

        async def test_e_next_test_works(async_db_session):
            LOOPS.append(asyncio.get_running_loop())
            assert await async_db_session.scalar(text("SELECT 1")) == 1

        def test_f_each_test_had_its_own_loop_and_all_one_backend():
            assert len(set(map(id, LOOPS))) == len(LOOPS) == 3
            assert PIDS[0] == PIDS[1]
    """)
    result = run_pytest("-v", "-W", "error::ResourceWarning")
    assert "attached to a different loop" not in result.stdout.str()
    result.assert_outcomes(passed=6)


def test_a_projects_db_url_is_what_async_db_session_connects_to(pytester, run_pytest):
    """async_db_session does not list db_url as a fixture (speed), yet a project's db_url wins."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest("""
        import pytest
        from sqlalchemy.ext.asyncio import create_async_engine

        @pytest.fixture(scope="session")
        def other_database():
            import asyncio, asyncpg, os, threading
            async def make():
                conn = await asyncpg.connect(os.environ["DATABASE_URL"])
                await conn.execute("CREATE DATABASE elsewhere")
                await conn.close()
            # in a thread: asyncio.run() here would clear the main thread's loop for pytest-asyncio < 1
            maker = threading.Thread(target=lambda: asyncio.run(make()))
            maker.start()
            maker.join()
            return "elsewhere"

        @pytest.fixture
        def db_url(async_test_database, other_database):
            return async_test_database.with_database(other_database).async_url
    """)
    pytester.makepyfile(test_override="""
        from sqlalchemy import text

        async def test_session_uses_the_projects_url(async_db_session):
            assert await async_db_session.scalar(text("SELECT current_database()")) == "elsewhere"

        async def test_db_url_itself(db_url):
            assert db_url.endswith("/elsewhere")
    """)
    pytester.makepyfile(test_default="""
        from sqlalchemy import text
        import pytest

        @pytest.fixture
        def db_url(async_test_database):  # module-level override back to the harness's own database
            return async_test_database.async_url

        async def test_module_override(async_db_session):
            assert await async_db_session.scalar(text("SELECT current_database()")) != "elsewhere"
    """)
    run_pytest("-v").assert_outcomes(passed=3)


@pytest.mark.parametrize("loops", ["harness-default", "function-loops"])
def test_a_test_stopped_by_the_timeout_mid_query_leaves_the_next_test_a_working_connection(pytester, run_pytest, loops):
    # 4 s: a loaded CI machine once took over a second to set up the next test (a 1 s limit failed it).
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_timeout = 4\n"
                     + (FUNCTION_LOOPS_INI if loops == "function-loops" else ""))
    pytester.makepyfile(test_hung="""
        from sqlalchemy import text

        async def test_a_hangs_in_the_database(async_db_session):
            await async_db_session.execute(text("SELECT pg_sleep(30)"))

        async def test_b_next_test(async_db_session):
            assert await async_db_session.scalar(text("SELECT 1")) == 1

        async def test_c_and_the_one_after(async_db_session):
            assert await async_db_session.scalar(text("SELECT 2")) == 2
    """)
    result = run_pytest("-v")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(["*test_a_hangs_in_the_database FAILED*", "*exceeded the per-test timeout of 4s*"])


def test_a_session_hook_that_queries_at_teardown_still_ends_the_test_cleanly(pytester, run_pytest):
    """The teardown's bookkeeping sends nothing itself but runs in a greenlet, so a project's
    session event may query there (isolation.end_test)."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest("""
        from sqlalchemy import event, text
        from sqlalchemy.orm import Session

        SEEN = []

        @event.listens_for(Session, "after_transaction_end")
        def audit(session, transaction):
            if transaction.parent is None and session.info.get("audit"):
                session.info["audit"] = False
                SEEN.append(session.connection().exec_driver_sql("SELECT 41 + 1").scalar())
    """)
    pytester.makepyfile(test_hook="""
        from sqlalchemy import text
        import conftest

        async def test_a_with_the_hook(async_db_session):
            async_db_session.sync_session.info["audit"] = True  # fires when the session closes
            await async_db_session.execute(text("CREATE TABLE t (i int)"))

        async def test_b_hook_ran_and_nothing_was_kept(async_db_session):
            assert conftest.SEEN == [42]
            assert await async_db_session.scalar(text("SELECT to_regclass('t') IS NULL"))

        async def test_c_still_fine(async_db_session):
            assert await async_db_session.scalar(text("SELECT 1")) == 1
    """)
    result = run_pytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
