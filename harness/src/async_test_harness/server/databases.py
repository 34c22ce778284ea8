"""Creating, cloning and dropping the test databases on the server.

Cloning with ``CREATE DATABASE ... TEMPLATE`` fails when two sessions copy the
same template at once, so every clone happens under one advisory lock: xdist
workers and own-database tests take turns instead of failing at random.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, List, TypeVar

from .address import DatabaseAddress

T = TypeVar("T")

CLONE_LOCK_KEY = 0x5A5A7E57  # arbitrary, constant across processes of one run


def run_sync(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to completion on a private loop in a private thread.

    A thread keeps the caller's event loop state (pytest-asyncio's loops, a
    running loop in an async fixture) untouched.
    """
    result: List[Any] = []
    error: List[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(fn()))  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=target, name="async-test-admin")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]  # type: ignore[no-any-return]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _connect(admin: DatabaseAddress) -> Any:
    import asyncpg

    return await asyncpg.connect(
        host=admin.host, port=admin.port, user=admin.user, password=admin.password, database=admin.database,
        ssl=None if admin.ssl else False,
    )


async def create_database(admin: DatabaseAddress, name: str, template: str = "template0") -> None:
    conn = await _connect(admin)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        await conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(template)}")
    finally:
        await conn.close()


async def clone_database(admin: DatabaseAddress, template: str, name: str) -> None:
    """Copy the template, one copy at a time across every process of the run."""
    conn = await _connect(admin)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", CLONE_LOCK_KEY)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
            await conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(template)}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", CLONE_LOCK_KEY)
    finally:
        await conn.close()


async def drop_database(admin: DatabaseAddress, name: str) -> None:
    conn = await _connect(admin)
    try:
        version = conn.get_server_version().major
        force = " WITH (FORCE)" if version >= 13 else ""
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}{force}")
    finally:
        await conn.close()


async def drop_databases_with_prefix(admin: DatabaseAddress, prefix: str) -> List[str]:
    conn = await _connect(admin)
    try:
        names = [
            r["datname"]
            for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")
        ]
        force = " WITH (FORCE)" if conn.get_server_version().major >= 13 else ""
        for name in names:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}{force}")
        return names
    finally:
        await conn.close()


# async_db_session's own connection waits inside an open transaction between tests (see
# isolation.py); it names itself so the leak check below does not count it.
ISOLATION_APPLICATION_NAME = "async-test per-test transactions"


async def open_transactions(address: DatabaseAddress) -> int:
    """Other sessions on this database still inside a transaction (leaked by a test or fixture)."""
    conn = await _connect(address)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' AND application_name <> $1",
            ISOLATION_APPLICATION_NAME,
        ))
    finally:
        await conn.close()


async def server_version(admin: DatabaseAddress) -> str:
    conn = await _connect(admin)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
