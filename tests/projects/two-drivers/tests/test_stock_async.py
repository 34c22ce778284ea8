import pytest

from app.models import Base
from app.stock import add_warehouse, on_hand, receive, warehouses_holding
from tests.common import async_engine, sync_engine


@pytest.fixture
async def async_tables():
    async with async_engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield async_engine
    async with async_engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await async_engine.dispose()


async def test_async_engine_is_asyncpg_on_postgresql(async_tables):
    assert async_tables.dialect.name == "postgresql"
    assert async_tables.dialect.driver == "asyncpg"
    assert await on_hand(async_tables, "nothing") == 0


async def test_both_drivers_see_the_same_database(async_tables):
    assert sync_engine.dialect.name == "postgresql"
    north = add_warehouse(sync_engine, "NORTH")
    south = add_warehouse(sync_engine, "SOUTH")
    receive(sync_engine, north, "SKU-9", 3)
    receive(sync_engine, south, "SKU-9", 4)
    assert await on_hand(async_tables, "SKU-9") == 7
    assert await warehouses_holding(async_tables, "SKU-9") == ["NORTH", "SOUTH"]
