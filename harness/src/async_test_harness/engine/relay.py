"""One database connection for all the function-scoped event loops of a run.

A function-scoped loop lives for one test, and an asyncpg connection cannot
leave the loop that opened it, so each such test used to open a connection of
its own and abort it afterwards: several ms (measured below), mostly PostgreSQL
forking and initialising a backend, then preparing every statement again on it.  Instead,
the connection lives on a *home loop* in a daemon thread for the whole run, and
each test's loop talks to it through `Relay` objects: a call is made on the
home loop and its result awaited in the caller's loop
(``run_coroutine_threadsafe`` + ``wrap_future``), two thread hops per driver
call.  The SQLAlchemy ``AsyncConnection`` on top holds no loop of its own, so it
is kept as well, and the per-test transaction of isolation.py works exactly as
with a session-scoped loop: one ``ROLLBACK; BEGIN; SAVEPOINT`` per test.

What a test can tell: the raw driver connection
(``(await (await session.connection()).get_raw_connection()).driver_connection``) is a
relay of an ``asyncpg.Connection`` rather than one, so ``isinstance`` checks on
it fail; its methods, transactions, cursors and listeners work (listener
callbacks run in the loop that added them).  docs/fixtures.md says so to users.

Who gets the bridge: a test whose loop is function-scoped, anyio's included
(``connections_for``, asked by the ``async_db_session`` fixture).  All of the
trick lives here: the plugin only closes the bridge at the end of the run, and
compat.py holds the SQLAlchemy internals it touches (as it does for every
version-dependent lookup).

Measured gain (2026-11-30, issue 13): 11.3 ms a test, 86 % of a run, with
function-scoped loops (``asyncio_default_test_loop_scope = function``): the
median of 18 paired, alternating rounds (two batches: 11.2 and 13.2 ms; every
pair at least 5.5 ms) of ``benchmarks/run.py``'s "function-scoped loops
forced" case, 500 trivial tests, median time per test inside a run, by
``benchmarks/tricks.py relay``: 1.8 ms a test against 13.2 ms with a new
connection per test (what SQLAlchemy < 2.0.16 still gets).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Dict, Optional, Set, Tuple, TypeVar

from .. import compat
from . import query_count
from .connection_cache import ConnectionCache, driver_of, for_running_loop

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")

# Keyword arguments SQLAlchemy's URL parsing yields that belong to its adapter, not to asyncpg.connect.
_ADAPTER_ARGS = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn")
# Driver methods that take callbacks: the callbacks must run in the caller's loop, not the home loop.
_CALLBACK_METHODS = frozenset({
    "add_listener", "remove_listener", "add_log_listener", "remove_log_listener",
    "add_termination_listener", "remove_termination_listener", "add_query_logger", "remove_query_logger",
})
# Synchronous driver methods that touch the socket: run on the home loop's thread.
_ON_HOME_THREAD = frozenset({"terminate"})


@functools.cache
def available() -> bool:
    """SQLAlchemy accepts a connection made elsewhere (``async_creator``) from 2.0.16 on."""
    import sqlalchemy

    parts = tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in sqlalchemy.__version__.split(".")[:3])
    return parts >= (2, 0, 16)


class HomeLoop:
    """An event loop in a daemon thread; driver connections opened here can serve any other loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="async-test home loop", daemon=True)
        self._thread.start()
        self._callbacks: Dict[Any, Callable[..., None]] = {}  # the caller's callback -> its stand-in

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the home loop from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn`` on the home loop's thread and wait for it (short synchronous calls only)."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return done.result()

    def callback(self, callback: Any) -> Any:
        """The stand-in for ``callback`` that asyncpg calls on the home loop: it runs ``callback``
        in the loop that registered it, with relays in place of the driver's own objects."""
        if not callable(callback):
            return callback
        relay = self._callbacks.get(callback)
        if relay is not None:
            return relay
        try:
            caller = asyncio.get_running_loop()
        except RuntimeError:
            caller = None

        def relayed(*args: Any) -> None:
            relayed_args = tuple(wrap(arg, self) for arg in args)
            if caller is None:
                _invoke(callback, relayed_args)
                return
            try:
                caller.call_soon_threadsafe(_invoke, callback, relayed_args)
            except RuntimeError:
                pass  # the loop that registered it has closed: its test is over

        self._callbacks[callback] = relayed
        return relayed

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


_callback_tasks: Set[Any] = set()  # asyncio keeps only weak references to tasks


def _invoke(callback: Callable[..., Any], args: Tuple[Any, ...]) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _callback_tasks.add(task)
        task.add_done_callback(_callback_tasks.discard)


_relayed_types: Optional[Tuple[type, ...]] = None


def _driver_types() -> Tuple[type, ...]:
    """asyncpg's objects that belong to a connection's loop (records and values do not)."""
    global _relayed_types
    if _relayed_types is None:
        import asyncpg
        from asyncpg.cursor import Cursor, CursorFactory, CursorIterator
        from asyncpg.prepared_stmt import PreparedStatement
        from asyncpg.transaction import Transaction

        _relayed_types = (asyncpg.Connection, PreparedStatement, Transaction, Cursor, CursorFactory, CursorIterator)
    return _relayed_types


def wrap(value: Any, home: HomeLoop) -> Any:
    if isinstance(value, _driver_types()):
        return Relay(value, home)
    return value


def unwrap(value: Any) -> Any:
    if isinstance(value, Relay):
        return object.__getattribute__(value, "_target")
    return value


class Relay:
    """Stands in, in any loop, for an asyncpg object living on the home loop.

    A method's coroutine is created here and run on the home loop; its result is relayed back
    (wrapped again when it is itself a driver object, such as a prepared statement).
    """

    __slots__ = ("_home", "_target")

    def __init__(self, target: Any, home: HomeLoop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_home", home)

    def __getattr__(self, name: str) -> Any:
        target = object.__getattribute__(self, "_target")
        home: HomeLoop = object.__getattribute__(self, "_home")
        value = getattr(target, name)
        if not callable(value) or isinstance(value, type):
            return wrap(value, home)
        if name in _ON_HOME_THREAD:
            return lambda *args, **kwargs: home.call(lambda: value(*args, **kwargs))
        takes_callbacks = name in _CALLBACK_METHODS

        def method(*args: Any, **kwargs: Any) -> Any:
            if takes_callbacks:
                args = tuple(home.callback(arg) for arg in args)
                kwargs = {key: home.callback(arg) for key, arg in kwargs.items()}
            result = value(*map(unwrap, args), **{key: unwrap(arg) for key, arg in kwargs.items()})
            if inspect.iscoroutine(result):
                return _relayed(home, result)
            return wrap(result, home)

        return method

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_target"), name, unwrap(value))

    def __await__(self) -> Any:
        target = object.__getattribute__(self, "_target")
        home = object.__getattribute__(self, "_home")

        async def awaited() -> Any:
            return await target

        return _relayed(home, awaited()).__await__()

    def __aiter__(self) -> Any:
        return wrap(object.__getattribute__(self, "_target").__aiter__(), object.__getattribute__(self, "_home"))

    def __anext__(self) -> Any:
        return self.__getattr__("__anext__")()

    def __aenter__(self) -> Any:
        return self.__getattr__("__aenter__")()

    def __aexit__(self, *exc_info: Any) -> Any:
        return self.__getattr__("__aexit__")(*exc_info)

    def __repr__(self) -> str:
        return f"<relay of {object.__getattribute__(self, '_target')!r} (async-test loop bridge)>"


async def _relayed(home: HomeLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return wrap(await home.run(coro), home)


class Bridge(ConnectionCache):
    """The run's bridged connections, one per database URL; a ``connection_cache.ConnectionCache``, so
    isolation.py treats them as it treats a loop's own."""

    def __init__(self) -> None:
        super().__init__()
        self._home: Optional[HomeLoop] = None
        self._engines: Dict[str, AsyncEngine] = {}

    def home(self) -> HomeLoop:
        if self._home is None:
            self._home = HomeLoop()
        return self._home

    def engine(self, url: str) -> AsyncEngine:
        engine = self._engines.get(url)
        if engine is None:
            engine = self._engines[url] = self._make_engine(url)
        return engine

    def _make_engine(self, url: str) -> AsyncEngine:
        import asyncpg
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        parsed = make_url(url)
        args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
        for name in _ADAPTER_ARGS:
            kwargs.pop(name, None)
        home = self.home()

        async def connect() -> Any:
            return Relay(await home.run(asyncpg.connect(*args, **kwargs)), home)

        engine = create_async_engine(url, poolclass=NullPool, async_creator=connect)
        query_count.watch(engine)
        return engine

    async def connection(self, url: str) -> AsyncConnection:
        conn = await super().connection(url)
        _unbind_lock(conn)
        return conn

    def close(self) -> None:
        """End of the run, outside any loop: abort the connections (before the test database is
        dropped) and stop the home loop."""
        if self._home is None:
            return
        for url in list(self.connections):
            relay = driver_of(self.connections.pop(url))
            if relay is not None:
                try:
                    relay.terminate()  # runs on the home loop's thread
                except Exception:
                    pass
        self._engines.clear()
        self._home.stop()
        self._home = None


def _unbind_lock(conn: AsyncConnection) -> None:
    """SQLAlchemy's per-connection asyncio.Lock binds to the first loop that ever waits on it; a
    new one for each test's loop keeps a contended lock in one test from breaking the next."""
    try:
        adapter: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    except Exception:
        return  # closed or invalidated: no lock to replace
    compat.rebind_execute_mutex(adapter)


_bridge = Bridge()


def bridge() -> Bridge:
    return _bridge


async def connections_for(loop_scope: str) -> ConnectionCache:
    """Where a test whose loop has this scope gets its connection: the bridge for a function-scoped
    loop (when SQLAlchemy can take a connection made elsewhere), else the running loop's own."""
    if loop_scope == "function" and available():
        return _bridge
    return await for_running_loop()


def close() -> None:
    _bridge.close()
