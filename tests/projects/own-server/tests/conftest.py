import pytest

from myapp import db


@pytest.fixture(scope="session")
async def schema():
    conn = await db.connect()
    try:
        await conn.execute(db.SCHEMA)
    finally:
        await conn.close()


@pytest.fixture
async def conn(schema):
    """A connection whose work is rolled back after the test."""
    connection = await db.connect()
    tx = connection.transaction()
    await tx.start()
    yield connection
    await tx.rollback()
    await connection.close()
