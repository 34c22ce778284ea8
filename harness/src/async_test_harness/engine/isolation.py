"""The per-test transaction behind ``async_db_session``, in as few round trips as PostgreSQL allows.

Each test runs inside a transaction that is rolled back afterwards, and the
session joins it through a SAVEPOINT so the code under test may commit and roll
back.  Done naively through SQLAlchemy that is BEGIN, SAVEPOINT, the test's
statements, ROLLBACK: four round trips plus SQLAlchemy's bookkeeping for each,
which on a trivial test is most of its time.  What cuts it down:

* The connection is kept *inside* a transaction between tests: the rollback
  that ends one test, the BEGIN of the next and the SAVEPOINT its session
  will ask for first go to the server as one simple-query message,
  ``ROLLBACK; BEGIN; SAVEPOINT sa_savepoint_1``.  An open transaction that no
  statement has used yet takes no snapshot, so an idle connection holds
  nothing back (no xmin, no locks).  For this, SQLAlchemy sees the connection
  as AUTOCOMMIT and sends no BEGIN/COMMIT/ROLLBACK of its own, and the
  dialect skips sending the one SAVEPOINT that is already in place; its
  transaction objects (the outer one, the session's SAVEPOINTs) keep their
  meaning, and every later SAVEPOINT, RELEASE or ROLLBACK TO is sent as usual.
* SAVEPOINT names restart at ``sa_savepoint_1`` for each test.  SQLAlchemy
  numbers them per connection object, and the asyncpg dialect prepares every
  distinct statement: with a connection reused for a whole run, every test
  prepared a new ``SAVEPOINT sa_savepoint_<n>`` (an extra round trip) and
  evicted another from the statement cache.  Restarting the names is also
  what lets the first one be sent ahead.
* With a function-scoped loop whose connection dies with the test (no loop
  bridge), its transaction is not rolled back at all: the connection is aborted.
* SQLAlchemy's bookkeeping at the end of a test (outer rollback, session
  close) and the next test's SQLAlchemy BEGIN send nothing (AUTOCOMMIT); they
  share one greenlet hop.  (Skipping that hop when no event listener could
  query saved 0.026 ms a test, 2.0 % of a run, median of 9 paired rounds on
  2026-11-30: under issue 13's 0.05 ms / 5 % bar, so it was removed.)
* That message is *sent ahead*: written at the end of one test, its reply
  read when the next test needs the connection, so the server's work and the
  round trip overlap with pytest's own between tests.  Only where the
  connection's loop outlives the test: the session loop (and not after the
  run's last test), or the bridge's home loop (relay.py).  Replies still
  in flight are read before any such loop closes (``settle``, from
  ``test_ending``), so no loop ever cancels one.  All of it lives here: the
  state (``PENDING``, ``_in_flight``), when to send ahead (``_sends_ahead``),
  the sending (``_send``), the reading (``_settled``) and what the end of a
  test and of the run do (``test_ending``, ``settle``: the plugin only forwards
  pytest's hooks to them, so this package stays free of pytest).

  Measured gain (2026-11-30, issue 13): 0.092 ms a test, 6.3 % of a run, with
  the harness's defaults (session loop): the median of 33 paired, alternating
  rounds (three batches: 0.097, 0.027 and 0.100 ms) of ``benchmarks/run.py``'s
  isolation case, 500 trivial tests, median time per test inside a run, by
  ``benchmarks/tricks.py send_ahead`` (off: the reply is read before the test
  ends).  Small and noisy on this shared VM, but over the 0.05 ms bar; the
  quietest batch had 8 of 9 pairs in its favour.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Any, Set

from .. import compat
from ..server.databases import ISOLATION_APPLICATION_NAME
from . import relay
from .relay import Relay

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from .connection_cache import ConnectionCache

OPEN = "async_test_transaction_open"
PENDING = "async_test_reply_pending"
SENT_AHEAD = "async_test_savepoint_sent_ahead"
NEXT_OUTER = "async_test_next_outer_transaction"
FIRST_SAVEPOINT = "sa_savepoint_1"
NEXT_TEST = f"BEGIN; SAVEPOINT {FIRST_SAVEPOINT}"
# What a rollback leaves behind on a connection that serves every test: session-level advisory locks
# and statements the test PREPAREd in SQL (``from_sql``: asyncpg's own, made by the protocol, stay
# cached). Settings, LISTEN, temporary tables and cursors are transactional and go with the
# rollback. A function in the session's temporary schema, so each test pays one call of a cached
# plan (about 0.02 ms here), made once per connection outside the test transactions.
RESET_FUNCTION = "pg_temp.async_test_reset"
CREATE_RESET = f"""CREATE OR REPLACE FUNCTION {RESET_FUNCTION}() RETURNS void LANGUAGE plpgsql AS $$
DECLARE statement text;
BEGIN
  PERFORM pg_advisory_unlock_all();
  FOR statement IN SELECT p.name FROM pg_prepared_statements p WHERE p.from_sql LOOP
    EXECUTE format('DEALLOCATE %I', statement);
  END LOOP;
END $$"""
BETWEEN_TESTS = f"ROLLBACK; SELECT {RESET_FUNCTION}(); {NEXT_TEST}"
# Every sequence back to its start, for tests that assert generated ids (setval is not transactional:
# a rollback does not undo nextval). pytest-django calls this reset_sequences.
RESET_SEQUENCES = (
    "SELECT setval(s.seqrelid::regclass, s.seqstart, false) FROM pg_sequence s "
    "JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT LIKE 'pg\\_temp%'"
)


class OuterTransactionEnded(RuntimeError):
    """The test ended the transaction that isolates it (a raw COMMIT or ROLLBACK): what it wrote
    after that is permanent in this process's database."""


async def connection_for_test(resources: ConnectionCache, url: str) -> AsyncConnection:
    """The loop's (or the bridge's) connection to ``url``, inside an open transaction; one reconnect if it broke."""
    for attempt in (1, 2):
        connection = await resources.connection(url)
        try:
            if await _settled(connection):
                return connection
            await prepare(connection)
            return connection
        except Exception:
            # The cached connection broke (server restart, killed backend): one new try.
            await resources.discard(url)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def prepare(connection: AsyncConnection) -> None:
    """Hand transaction control of a new connection to this module and open the first transaction."""
    await connection.execution_options(isolation_level="AUTOCOMMIT")
    _skip_savepoint_sent_ahead(connection.engine.sync_engine.dialect)
    # idle_in_transaction_session_timeout: between tests the connection idles inside its open
    # transaction, which a server configured to kill such sessions would do. Set outside the
    # transaction (COMMIT ends the implicit one) so the rollbacks do not undo it. The name keeps
    # the end-of-run leak check from counting this connection.
    await _driver(connection).execute(
        f"SET idle_in_transaction_session_timeout = 0; SET application_name = '{ISOLATION_APPLICATION_NAME}'; "
        f"{CREATE_RESET}; COMMIT; {NEXT_TEST}"
    )
    _opened(connection)


async def _settled(connection: AsyncConnection) -> bool:
    """Is the connection ready for a test? Reads the reply to a message sent ahead, if any
    (raising if the connection broke meanwhile)."""
    pending = connection.info.pop(PENDING, None)
    if pending is None:
        return is_ready(connection)
    await (asyncio.wrap_future(pending) if isinstance(pending, concurrent.futures.Future) else pending)
    _opened(connection)
    return True


def is_ready(connection: AsyncConnection) -> bool:
    if connection.closed or connection.invalidated or not connection.info.get(OPEN):
        return False
    return not _driver(connection).is_closed()


def is_lost(connection: AsyncConnection) -> bool:
    """Did the server side go away (terminated backend, restart)? Then nothing is left to roll back."""
    try:
        return bool(_driver(connection).is_closed())
    except Exception:
        return True


def restart_savepoint_names(connection: AsyncConnection) -> None:
    compat.restart_savepoint_names(connection.sync_connection)


async def begin_test(connection: AsyncConnection) -> Any:
    """SQLAlchemy's outer transaction for this test (no round trip): the one the previous test's
    ``end_test`` began already, or a new one. Returns the sync ``RootTransaction``."""
    ready = connection.info.pop(NEXT_OUTER, None)
    if ready is None or not ready.is_active:
        ready = (await connection.begin()).sync_transaction
    restart_savepoint_names(connection)
    return ready


async def end_test(connection: AsyncConnection, outer: Any, session: Any, keep: bool, loop_scope: str) -> None:
    """Retire the test's SQLAlchemy state and, when the connection is kept, roll back and open the
    next test's transaction: one greenlet hop, and one message.

    SQLAlchemy's outer rollback goes first: it retires the session's SAVEPOINT with it, so the
    session's close has nothing left to send, and neither reaches the server (AUTOCOMMIT). They
    run in a greenlet (``run_sync``) all the same, so a project's event listeners may query.
    Where the connection's loop outlives the run's tests (``loop_scope``, the test's), the reply
    is left for the next test to read (sent ahead: see the module docstring).
    """
    driver = _driver(connection)
    # No round trip: the status of the last reply. A closed connection (a query cut off by the
    # timeout, a killed backend) reports no transaction either; that is the lost-connection path.
    if not driver.is_closed() and not driver.is_in_transaction():
        raise OuterTransactionEnded(OUTER_ENDED)

    def end(sync_connection: Any) -> None:
        if outer.is_active:
            outer.rollback()
        session.sync_session.close()
        if keep:
            connection.info[OPEN] = False
            if NEXT_OUTER not in connection.info:
                begun = sync_connection.get_transaction()
                if begun is not None:  # a session event queried while the session closed (autobegin)
                    begun.rollback()  # SQLAlchemy bookkeeping only: the ROLLBACK below undoes its work
                connection.info[NEXT_OUTER] = sync_connection.begin()

    await connection.run_sync(end)
    if not keep:
        return
    if _sends_ahead(driver, loop_scope):
        connection.info[PENDING] = _send(driver, BETWEEN_TESTS)
    else:
        await driver.execute(BETWEEN_TESTS)
        _opened(connection)


OUTER_ENDED = (
    "This test ended the transaction that isolates it from other tests (a raw COMMIT or ROLLBACK "
    "through text(), the driver connection or connection.exec_driver_sql), so what it wrote afterwards "
    "was committed for real. async-test recreated this process's database from the template, so later "
    "tests start clean. Fix: use session.commit()/session.rollback() (they act on a SAVEPOINT here), or "
    'mark the test @pytest.mark.integration(isolation="database") to give it a database of its own '
    "where commits are real."
)


async def reset_sequences(connection: AsyncConnection) -> None:
    await _driver(connection).execute(RESET_SEQUENCES)


# ----------------------------------------------------------------------------- sent ahead

_in_flight: Set[Any] = set()  # asyncio tasks and (bridge) concurrent futures whose reply is unread
_run_ending = False  # the test being torn down is the run's last: pytest tears every loop down after it


def _sends_ahead(driver: Any, loop_scope: str) -> bool:
    """Will the connection's loop outlive this test, so that the next test can read the reply?"""
    return not _run_ending and (loop_scope == "session" or isinstance(driver, Relay))


def _send(driver: Any, sql: str) -> Any:
    """Start ``sql`` without waiting for its reply: a future the next test awaits."""
    if isinstance(driver, Relay):
        # On the bridge's home loop, as a concurrent future: the test's own loop closes with the test.
        home = relay.bridge().home().loop
        pending: Any = asyncio.run_coroutine_threadsafe(relay.unwrap(driver).execute(sql), home)
    else:
        pending = asyncio.ensure_future(driver.execute(sql))
    _in_flight.add(pending)
    pending.add_done_callback(_landed)
    return pending


def _landed(pending: Any) -> None:
    _in_flight.discard(pending)
    if not pending.cancelled():
        pending.exception()  # retrieved: a broken connection shows at its next use, not as a log line


def settle() -> None:
    """Wait for every reply still in flight, before the loops they belong to close (called
    before the run's session-scoped fixtures are torn down): a closing loop would cancel them,
    and asyncpg answers a cancelled query by opening a connection to cancel it on the server."""
    for pending in list(_in_flight):
        if isinstance(pending, concurrent.futures.Future):
            concurrent.futures.wait([pending], timeout=30)
            continue
        loop = pending.get_loop()
        if not pending.done() and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(asyncio.wait([pending]))


def test_ending(last: bool) -> None:
    """Called as each test's teardown starts (the plugin forwards pytest's hook): after the run's
    last test nothing is sent ahead, and every reply in flight is read before pytest tears the
    session-scoped event loop down."""
    global _run_ending
    _run_ending = last
    if last:
        settle()


def _opened(connection: AsyncConnection) -> None:
    connection.info[OPEN] = True
    connection.info[SENT_AHEAD] = FIRST_SAVEPOINT
    compat.register_outer_transaction(_driver(connection))


def _skip_savepoint_sent_ahead(dialect: Any) -> None:
    """Make this dialect instance skip a SAVEPOINT that ``NEXT_TEST`` already created.

    Only the shared engine's own dialect instance is changed (not the class), and only a
    connection flagged by this module is affected: any other connection of that engine sends
    every SAVEPOINT.
    """
    if getattr(dialect, "_async_test_savepoint_hook", False):
        return
    send = dialect.do_savepoint

    def do_savepoint(connection: Any, name: str) -> None:
        if connection.info.pop(SENT_AHEAD, None) == name:
            return
        send(connection, name)

    dialect.do_savepoint = do_savepoint
    dialect._async_test_savepoint_hook = True


def _driver(connection: AsyncConnection) -> Any:
    sync = connection.sync_connection
    assert sync is not None, "the connection is closed"
    return sync.connection.driver_connection
