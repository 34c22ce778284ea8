"""Database connections that live exactly as long as their event loop.

asyncpg connections belong to the loop that made them.  Reusing one
connection for every test is what makes per-test isolation cheap (a
rollback instead of a new connection; see isolation.py), but only while the loop
stays the same.  So connections are cached per running loop and closed from
inside that loop just before it closes: an async generator is started in the
loop, and every loop shutdown (``asyncio.run``, ``asyncio.Runner``,
pytest-asyncio) finalises live async generators with
``loop.shutdown_asyncgens()``, which runs our cleanup while the loop still
works.  A loop closed without that step is detected on the next lookup and its
connections are dropped at the socket, so "attached to a different loop" never
reaches a test.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, List, Optional

from .. import compat
from . import query_count

if TYPE_CHECKING:  # SQLAlchemy is imported on first use: a unit-only run never pays for it
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Engines are shared by every loop: with NullPool an engine holds no connection, so it has no loop
# of its own, and making one per loop would repeat SQLAlchemy's dialect set-up (several ms, the
# largest cost of a function-scoped loop) for every test.
_engines: Dict[str, AsyncEngine] = {}
def shared_engine(url: str) -> AsyncEngine:
    engine = _engines.get(url)
    if engine is None:
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        # Driver options (no SSL on the harness's servers) come in the URL: server/address.py.
        engine = _engines[url] = create_async_engine(url, poolclass=NullPool)
        query_count.watch(engine)
    return engine


class ConnectionCache:
    """One connection per database URL, opened on first use and reopened if it broke; what
    isolation.py asks of both a loop's resources (below) and the loop bridge (relay.py)."""

    def __init__(self) -> None:
        self.connections: Dict[str, AsyncConnection] = {}

    def engine(self, url: str) -> AsyncEngine:
        return shared_engine(url)

    async def connection(self, url: str) -> AsyncConnection:
        conn = self.connections.get(url)
        if conn is not None and (conn.closed or conn.invalidated):
            await _quiet_close(conn)
            conn = None
        if conn is None:
            conn = await self.engine(url).connect()
            self.connections[url] = conn
            _stats["connections_opened"] += 1
        return conn

    async def discard(self, url: str) -> None:
        conn = self.connections.pop(url, None)
        if conn is not None:
            await _quiet_close(conn)

    async def aclose(self) -> None:
        for url in list(self.connections):
            await self.discard(url)


class LoopResources(ConnectionCache):
    """The connections of one event loop, closed inside it when it shuts down."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop_ref = weakref.ref(loop)
        self._guard: Optional[AsyncIterator[None]] = None

    async def start_guard(self) -> None:
        async def guard() -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.aclose()

        self._guard = guard()
        await self._guard.__anext__()

    def abandon(self) -> None:
        """The loop closed without running our cleanup: drop connections without it."""
        for conn in self.connections.values():
            raw = driver_of(conn)
            sock = compat.socket_of(raw)
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self.connections.clear()


async def _quiet_close(conn: AsyncConnection) -> None:
    # Abort the socket first: no waiting for the server to acknowledge a graceful Terminate (2-4 ms
    # here, paid per test with function-scoped loops; SQLAlchemy 2.1's invalidate() waits for it).
    # Nothing is lost: the connection is never reused, and the server discards its transaction.
    raw = driver_of(conn)
    if raw is not None:
        raw.terminate()
    try:
        if not conn.closed and not conn.invalidated:
            await conn.invalidate()
        await conn.close()
    except Exception:
        pass


def driver_of(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn`` (a relay of one on the loop bridge), or None."""
    try:
        fairy: Any = conn.sync_connection.connection  # type: ignore[union-attr]
        adapter = fairy.dbapi_connection
    except Exception:
        return None  # closed or invalidated
    return compat.driver_behind(adapter)


_stats: Dict[str, int] = {"connections_opened": 0}
_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopResources] = weakref.WeakKeyDictionary()


_last: List[Any] = [None, None]  # (weakref to the last loop asked about, its resources): the common case


async def for_running_loop() -> LoopResources:
    loop = asyncio.get_running_loop()
    last_loop, last_resources = _last
    if last_loop is not None and last_loop() is loop:
        return last_resources  # type: ignore[no-any-return]
    found = await _resources_for(loop)
    _last[:] = [weakref.ref(loop), found]
    return found


async def _resources_for(loop: asyncio.AbstractEventLoop) -> LoopResources:
    for other_loop, res in list(_registry.items()):
        if other_loop is not loop and other_loop.is_closed():
            res.abandon()
            del _registry[other_loop]
    found = _registry.get(loop)
    if found is not None:
        return found
    created = _registry[loop] = LoopResources(loop)
    await created.start_guard()
    return created


def connection_count() -> int:
    """Connections opened so far in this process, for the report and the benchmarks."""
    return _stats["connections_opened"]
