"""The SQL statements tests execute through the harness's engines: counted, and captured on request.

Each engine the harness makes is watched (``watch``): every statement its dialect sends to the
driver adds one to a process-wide counter, and its text is kept only while a ``Capture`` is open
(the ``assert_num_queries`` fixtures). The plugin reads the counter at the
start of each test and after its database fixtures are torn down (``since_test_start``).

What counts is what the test's code executes: queries, DML, DDL, ``text()``, ``exec_driver_sql``,
each batch of an ``executemany``. Transaction control does not: the isolation's own
``ROLLBACK; BEGIN; SAVEPOINT`` goes to the driver directly (isolation.py), BEGIN/COMMIT/ROLLBACK are
never statements in SQLAlchemy, and the SAVEPOINT / RELEASE SAVEPOINT / ROLLBACK TO SAVEPOINT that
SQLAlchemy sends for ``commit()``, ``rollback()`` and ``begin_nested()`` are left out too, so a test
counts the same whether the code under test commits or not (under the harness a commit is a
RELEASE SAVEPOINT; without it, a COMMIT that is no statement). Statements SQLAlchemy runs while
it sets up its first connection (the dialect's first-connect queries) are sent before counting starts.

No SQLAlchemy at import: ``watch`` imports it, when an engine exists anyway.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple

# The hot path, per statement: a class check and an increment (the capture list is empty unless an
# assert_num_queries block is open).
_counted = 0
_at_test_start = 0
_captures: List[Capture] = []
_transaction_control: Tuple[type, ...] = ()
_WATCHED = "_async_test_query_count"

MAX_STATEMENT = 300  # characters of one statement shown in a message


def watch(engine: Any) -> None:
    """Count the statements of ``engine`` (an ``AsyncEngine`` or a sync ``Engine``); once per engine.

    Counted where the dialect sends each statement to the driver (``do_execute``,
    ``do_execute_no_params``, ``do_executemany``, wrapped on this engine's own dialect instance,
    as isolation.py wraps its ``do_savepoint``), not by an engine event: any listener on an
    engine makes SQLAlchemy dispatch its execution events for every statement, about 30 Python
    calls: 4.7-8.4 us a statement here against at most 0.45 us for the wrapper (SQLite ``SELECT 1``,
    ``benchmarks/query_count.py``, docs/performance.md). Installed after the engine's first connection: the
    dialect's own first-connect queries (server version, settings) go through the same methods.
    """
    sync_engine = getattr(engine, "sync_engine", engine)
    if getattr(sync_engine, _WATCHED, False):
        return
    from sqlalchemy import event

    _load_transaction_control()
    setattr(sync_engine, _WATCHED, True)
    dialect = sync_engine.dialect
    # After SQLAlchemy's own first-connect listener (registered when the engine was made).
    event.listen(sync_engine, "connect", lambda *_: _count_on(dialect), once=True)


def is_watched(engine: Any) -> bool:
    return bool(getattr(getattr(engine, "sync_engine", engine), _WATCHED, False))


def _count_on(dialect: Any) -> None:
    if getattr(dialect, _WATCHED, False):
        return
    setattr(dialect, _WATCHED, True)
    execute, execute_no_params, executemany = dialect.do_execute, dialect.do_execute_no_params, dialect.do_executemany

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if _counts(context):
            _sent(context, statement)
        execute(cursor, statement, parameters, context)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        if _counts(context):
            _sent(context, statement)
        execute_no_params(cursor, statement, context)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if _counts(context):
            _sent(context, statement)
        executemany(cursor, statement, parameters, context)

    dialect.do_execute = do_execute
    dialect.do_execute_no_params = do_execute_no_params
    dialect.do_executemany = do_executemany


def _counts(context: Any) -> bool:
    """Not SQLAlchemy's own SAVEPOINT, RELEASE SAVEPOINT or ROLLBACK TO SAVEPOINT."""
    compiled = context.compiled if context is not None else None
    return compiled is None or compiled.statement.__class__ not in _transaction_control


def _sent(context: Any, statement: str) -> None:
    global _counted
    _counted += 1
    if _captures:
        conn = context.root_connection if context is not None else None
        for capture in _captures:
            capture.add(conn, statement)


def counted() -> int:
    """Statements counted in this process so far."""
    return _counted


def test_started() -> None:
    """A test begins: ``since_test_start`` counts from here."""
    global _at_test_start
    _at_test_start = _counted


def since_test_start() -> int:
    return _counted - _at_test_start


class Capture:
    """The statements executed while it is open (``with`` or ``start``/``stop``), their text only:
    parameters are never kept. ``target``: only those of one engine or connection (sync), else all
    counted ones."""

    def __init__(self, target: Any = None) -> None:
        self.target = target
        self.statements: List[str] = []
        self._listening: Optional[Any] = None

    def add(self, conn: Any, statement: str) -> None:
        target = self.target
        if target is None or conn is target or getattr(conn, "engine", None) is target:
            self.statements.append(statement)

    def start(self) -> Capture:
        engine = getattr(self.target, "engine", self.target)
        if engine is not None and not is_watched(engine):
            # Someone else's engine (the project's own): listened to for this block only.
            from sqlalchemy import event

            control = _load_transaction_control()

            def listener(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                         executemany: bool) -> None:
                compiled = context.compiled if context is not None else None
                if compiled is None or compiled.statement.__class__ not in control:
                    self.add(conn, statement)

            event.listen(self.target, "before_cursor_execute", listener)
            self._listening = listener
        else:
            _captures.append(self)
        return self

    def stop(self) -> None:
        if self._listening is not None:
            from sqlalchemy import event

            event.remove(self.target, "before_cursor_execute", self._listening)
            self._listening = None
        elif self in _captures:
            _captures.remove(self)

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self.statements)

    def __iter__(self) -> Iterator[str]:
        return iter(self.statements)


def _load_transaction_control() -> Tuple[type, ...]:
    global _transaction_control
    from sqlalchemy.sql.elements import ReleaseSavepointClause, RollbackToSavepointClause, SavepointClause

    _transaction_control = (SavepointClause, ReleaseSavepointClause, RollbackToSavepointClause)
    return _transaction_control


def sync_target(connection: Any) -> Any:
    """The sync ``Engine`` or ``Connection`` behind what a test passes as ``connection=``: an
    ``AsyncEngine``, ``AsyncConnection``, ``AsyncSession`` or ``Session`` (its bind), or a sync one."""
    if connection is None:
        return None
    sync_session = getattr(connection, "sync_session", None)  # AsyncSession
    if sync_session is not None:
        connection = sync_session
    get_bind = getattr(connection, "get_bind", None)  # Session
    if get_bind is not None and not hasattr(connection, "dialect"):
        connection = get_bind()
    for attribute in ("sync_connection", "sync_engine"):  # AsyncConnection, AsyncEngine
        inner = getattr(connection, attribute, None)
        if inner is not None:
            return inner
    return connection


def shorten(statement: str, limit: int = MAX_STATEMENT) -> str:
    """One line, at most ``limit`` characters: a statement as a failure message lists it."""
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expectation_failed(expected: int, executed: List[str], exact: bool, info: Optional[str] = None) -> Optional[str]:
    """The failure message, or None when ``executed`` meets the expectation (``exact``: as many as
    ``expected``, else at most that many)."""
    count = len(executed)
    if (count == expected) if exact else (count <= expected):
        return None
    noun = "query" if expected == 1 else "queries"
    verb = "was" if count == 1 else "were"
    extra = f" ({info})" if info else ""
    lines = [f"Expected {'' if exact else 'at most '}{expected} {noun}, {count} {verb} executed{extra}"
             + (":" if count else ".")]
    width = len(str(count))
    lines += [f"{n:>{width}}. {shorten(s)}" for n, s in enumerate(executed, 1)]
    return "\n".join(lines)
