"""The sqlite extra's driver, in memory: no server, so a unit test (aiosqlite comes with the `sqlite` extra)."""

import aiosqlite  # noqa: F401  (the extra's driver; without it this module fails to collect)
from tinyorm import Database, Mapper


async def test_round_trip_in_memory():
    db = Database("sqlite:///:memory:")
    mapper = Mapper(db)
    await mapper.create_schema()
    assert await mapper.add("hello") == 1
    assert [r["text"] for r in await mapper.all()] == ["hello"]
    await db.close()
