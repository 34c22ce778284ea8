"""Another module, another fixture name for the same job: tables made and dropped per test."""

import pytest
from conftest import DATABASE_URL
from tinyorm import Database, Mapper


@pytest.fixture
async def tables():
    db = Database(DATABASE_URL)
    mapper = Mapper(db)
    await mapper.create_schema()
    yield mapper
    await mapper.drop_schema()
    await db.close()


async def test_empty_at_start(tables):
    assert tables.database.engine.dialect.name == "postgresql"
    assert await tables.all() == []
