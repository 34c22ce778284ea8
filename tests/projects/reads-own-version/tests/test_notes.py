"""The PostgreSQL backend; the schema is made once for this module by a fixture of its own."""

import asyncio

import pytest
from conftest import DATABASE_URL
from tinyorm import Database, Mapper


@pytest.fixture(scope="module")
def schema():
    async def make(create: bool) -> None:
        db = Database(DATABASE_URL)
        await (Mapper(db).create_schema() if create else Mapper(db).drop_schema())
        await db.close()

    asyncio.run(make(True))
    yield
    asyncio.run(make(False))


@pytest.fixture
async def mapper(schema):
    db = Database(DATABASE_URL)
    yield Mapper(db)
    await db.close()


async def test_notes_on_postgresql(mapper):
    async with mapper.database.engine.connect() as conn:
        assert conn.dialect.name == "postgresql"
    await mapper.add("first")
    assert "first" in [r["text"] for r in await mapper.all()]


async def test_pool_size_option_reaches_the_engine(schema):
    db = Database(DATABASE_URL, pool_size=3)
    assert db.engine.pool.size() == 3 and db.engine.dialect.name == "postgresql"
    await db.close()
