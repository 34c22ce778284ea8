"""Blocking the database in unit tests, with an error that says how to fix it.

Modelled on pytest-django's blocker: the drivers' connect functions are
replaced while a unit test runs (setup, call and teardown), and so is
``socket.connect`` for the server's address, which catches raw sockets and
drivers we do not know.  A connection refused by a missing server would be a
confusing error; this one names the test and the way out.

Blocking connects is not enough when one session runs both kinds: a connection opened at import,
or a pooled one an integration test left in a module-level engine, is already open when a unit test
runs. So the *use* of a connection is refused too: SQLAlchemy's pool checkout and cursor execution
(every engine, sync and async, pooled connections included), asyncpg's ``Pool.acquire`` and its
connections' query methods, psycopg 3's cursors' ``execute`` family. psycopg2's connections are C
objects whose methods cannot be replaced: one opened before a unit test and used raw (not through
SQLAlchemy) is not stopped here; under the runner, one opened at import sends the unit tests to a
process of their own (early_connections.py; docs/unit-and-integration.md).
"""

from __future__ import annotations

import functools
import inspect
import socket
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Set, Tuple

LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class DatabaseBlockedError(RuntimeError):
    """A unit test tried to reach the database."""


def blocked_message(nodeid: str, reason: str, what: str) -> str:
    return (
        f"Database access is blocked in unit test '{nodeid}' ({what}). It is classified as a unit test "
        f"({reason}), and unit tests run with the database blocked so they stay fast and need no server. "
        "Fix: mock the database (the mock_db fixture), or make it an integration test without editing it: "
        "declare the fixture that gives it the database in db_fixtures (ASYNC_TEST_DB_FIXTURES=my_session, "
        "async_test_db_fixtures in pytest.ini or db_fixtures in [tool.async-test]), or match its path with "
        "integration_paths (e.g. ASYNC_TEST_INTEGRATION_PATHS='tests/db/*'); or in code mark it "
        "@pytest.mark.integration or request async_db_session. To let every test reach the database, set "
        "block_db = false."
    )


# (module, attribute path) of driver entry points, patched once their module is imported.
DRIVER_ENTRY_POINTS: List[Tuple[str, str]] = [
    ("asyncpg", "connect"),
    ("asyncpg", "create_pool"),
    ("asyncpg.connection", "connect"),
    ("psycopg2", "connect"),
    ("psycopg", "connect"),
    ("psycopg.Connection", "connect"),
    ("psycopg.AsyncConnection", "connect"),
]


# (module, class, methods) that use a connection already open, patched once their module is imported.
# Only methods the class defines itself: a subclass inheriting one is covered by its base's.
CONNECTION_USES: List[Tuple[str, str, Tuple[str, ...]]] = [
    ("asyncpg.connection", "Connection", (
        "execute", "executemany", "fetch", "fetchmany", "fetchrow", "fetchval", "prepare", "cursor",
        "copy_from_query", "copy_from_table", "copy_to_table", "copy_records_to_table")),
    ("asyncpg.pool", "Pool", ("acquire",)),
    ("psycopg", "Cursor", ("execute", "executemany", "copy", "stream")),
    ("psycopg", "ServerCursor", ("execute", "executemany", "stream")),
    ("psycopg", "AsyncCursor", ("execute", "executemany", "copy", "stream")),
    ("psycopg", "AsyncServerCursor", ("execute", "executemany", "stream")),
]


def _resolve(module_path: str) -> Optional[Any]:
    """The object owning an entry point, if its module is imported (``None`` otherwise)."""
    module_name, _, cls = module_path.partition(".") if module_path.startswith("psycopg.") else (module_path, "", "")
    target: Any = sys.modules.get(module_name)
    if target is not None and cls:
        target = getattr(target, cls, None)
    return target


class Blocker:
    def __init__(self, ports: Set[int], socket_dirs: Set[str]) -> None:
        self.ports = ports
        self.socket_dirs = socket_dirs

    def is_db_address(self, address: Any) -> bool:
        if isinstance(address, (str, bytes)):
            path = address.decode() if isinstance(address, bytes) else address
            return any(path.startswith(d) for d in self.socket_dirs if d) or ".s.PGSQL." in path
        if isinstance(address, tuple) and len(address) >= 2:
            host, port = address[0], address[1]
            return port in self.ports and (str(host) in LOOPBACK or str(host).startswith("127."))
        return False

    @contextmanager
    def blocking(self, nodeid: str, reason: str) -> Iterator[None]:
        """Refuse database connections for the duration, naming this test in the error."""
        _install()
        previous = _state.active
        _state.active = (self, nodeid, reason)
        try:
            yield
        finally:
            _state.active = previous


class _State:
    """The guards are installed once and stay; a test only switches them on and off.

    Patching and unpatching seven entry points and two socket methods for each phase of
    each unit test cost more than a trivial unit test itself.
    """

    def __init__(self) -> None:
        self.active: Optional[Tuple[Blocker, str, str]] = None
        self.undo: List[Callable[[], None]] = []
        self.patched: Set[Tuple[str, str]] = set()
        self.socket_patched = False
        self.sqlalchemy_listening = False
        self.modules_seen = 0


_state = _State()


def current() -> Optional[Tuple[Blocker, str, str]]:
    """What blocks now (None: nothing), for plugin/fixture_kinds.py to restore later."""
    return _state.active


def swap(active: Optional[Tuple[Blocker, str, str]]) -> Optional[Tuple[Blocker, str, str]]:
    """Block as ``active`` says (None: not at all); what blocked before."""
    previous = _state.active
    _state.active = active
    return previous


def _refusal(what: str) -> DatabaseBlockedError:
    _, nodeid, reason = _state.active  # type: ignore[misc]
    return DatabaseBlockedError(blocked_message(nodeid, reason, what))


def _guard(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            if _state.active is not None:
                raise _refusal(what)
            return await original(*args, **kwargs)

        return guarded_async

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _state.active is not None:
            raise _refusal(what)
        return original(*args, **kwargs)

    return guarded


def _guard_use(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Refuse the call while a unit test runs; checked when called, not when a coroutine first
    runs (a query an integration test started and a unit test's teardown awaits is not refused).
    The original's result (a coroutine, a context manager) is returned unchanged."""

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _state.active is not None:
            raise _refusal(what)
        return original(*args, **kwargs)

    return guarded


# The DBAPI connections of PostgreSQL drivers, by module (SQLAlchemy's asyncpg adapter lives in its
# postgresql dialect): a unit test's in-memory SQLite (or another database's) engine is not refused.
POSTGRES_DBAPI_MODULES = ("asyncpg", "psycopg", "pg8000", "postgresql")


def _is_postgres(dbapi_connection: Any) -> bool:
    module = type(dbapi_connection).__module__ or ""
    return any(name in module for name in POSTGRES_DBAPI_MODULES)


def _sqlalchemy_checkout(dbapi_connection: Any, *args: Any) -> None:
    if _state.active is not None and _is_postgres(dbapi_connection):
        raise _refusal("SQLAlchemy: a connection of an engine made before this test")


def _sqlalchemy_execute(conn: Any, *args: Any) -> None:
    if _state.active is not None and getattr(getattr(conn, "dialect", None), "name", "") == "postgresql":
        raise _refusal("SQLAlchemy: a connection of an engine made before this test")


def _listen_to_sqlalchemy() -> None:
    """Refuse pool checkouts and statements of every PostgreSQL engine, existing or future, sync or async."""
    if _state.sqlalchemy_listening or "sqlalchemy.pool" not in sys.modules or "sqlalchemy.engine" not in sys.modules:
        return
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool
    except Exception:
        return
    for target, name, listener in ((Pool, "checkout", _sqlalchemy_checkout),
                                   (Engine, "before_cursor_execute", _sqlalchemy_execute)):
        event.listen(target, name, listener)
        _state.undo.append(functools.partial(event.remove, target, name, listener))
    _state.sqlalchemy_listening = True


def _guard_uses() -> None:
    for module_name, class_name, methods in CONNECTION_USES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is None:
            continue
        for method in methods:
            key = (f"{module_name}.{class_name}", method)
            original = cls.__dict__.get(method)
            if key in _state.patched or original is None or not callable(original):
                continue
            short = module_name.split(".")[0]
            setattr(cls, method, _guard_use(original, f"{short} {class_name}.{method} on a connection opened earlier"))
            _state.patched.add(key)
            _state.undo.append(functools.partial(setattr, cls, method, original))


def _install() -> None:
    """Patch the socket once, and each driver entry point once its module has been imported.

    Drivers are not imported for this (asyncpg and psycopg cost 30-50 ms, paid by every unit pass
    that never touches them): a driver the project imports is normally imported at collection,
    before the first unit test; one imported later is patched from the next test phase on, and
    until then the socket guard stops the Python-level drivers (a C driver's connection to the
    blocked address is refused).
    """
    if not _state.socket_patched:
        for name in ("connect", "connect_ex"):
            real = getattr(socket.socket, name)
            setattr(socket.socket, name, _guard_socket(real))
            _state.undo.append(functools.partial(setattr, socket.socket, name, real))
        _state.socket_patched = True
    if len(sys.modules) == _state.modules_seen:
        return  # nothing imported since the last look
    _state.modules_seen = len(sys.modules)
    for module_path, attr in DRIVER_ENTRY_POINTS:
        if (module_path, attr) in _state.patched:
            continue
        target = _resolve(module_path)
        if target is None or not hasattr(target, attr):
            continue
        original = target.__dict__.get(attr, getattr(target, attr))
        what = f"{module_path}.{attr}"
        replacement: Any
        if isinstance(original, classmethod):
            replacement = classmethod(_guard(original.__func__, what))
        else:
            replacement = _guard(original, what)
        setattr(target, attr, replacement)
        _state.patched.add((module_path, attr))
        _state.undo.append(functools.partial(setattr, target, attr, original))
    _guard_uses()
    _listen_to_sqlalchemy()


def _guard_socket(real: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(sock: socket.socket, address: Any) -> Any:
        active = _state.active
        if active is not None and active[0].is_db_address(address):
            raise _refusal(f"socket connect to {address!r}")
        return real(sock, address)

    return guarded


def uninstall() -> None:
    """Put every patched entry point back (end of the pytest session)."""
    _state.active = None
    while _state.undo:
        _state.undo.pop()()
    _state.patched.clear()
    _state.socket_patched = False
    _state.sqlalchemy_listening = False
    _state.modules_seen = 0
