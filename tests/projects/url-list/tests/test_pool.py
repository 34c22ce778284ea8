"""One test connects on its own, with no fixture, to check a pool-size option."""

import multidb
from conftest import URLS


async def test_pool_size_on_postgresql():
    url = next(u for u in URLS if u.startswith("postgresql+asyncpg"))
    engine = multidb.connect(url, pool_size=2, max_overflow=0)
    try:
        conns = [await engine.connect() for _ in range(2)]
        assert engine.pool.checkedout() == 2 and engine.pool.size() == 2
        for conn in conns:
            await conn.close()
    finally:
        await engine.dispose()


def test_sqlite_alone_needs_no_server():
    assert multidb.connect("sqlite+aiosqlite://").dialect.name == "sqlite"
