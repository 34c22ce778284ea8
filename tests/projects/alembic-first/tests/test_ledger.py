from sqlalchemy import text

from app import handlers


async def test_migrated_postgresql_database(container):
    assert container.engine.dialect.name == "postgresql"
    async with container.engine.connect() as conn:
        assert "PostgreSQL" in await conn.scalar(text("SELECT version()"))
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == "0001"


async def test_open_and_read_back(container):
    assert container.engine.dialect.name == "postgresql"
    opened = await handlers.open_account(container, "ada", 100)
    assert opened["balance"] == 100
    assert await handlers.balance(container, "ada") == 100


async def test_transfer_moves_money_in_one_transaction(container):
    assert container.engine.dialect.name == "postgresql"
    await handlers.open_account(container, "ada", 100)
    await handlers.open_account(container, "bob", 0)
    assert await handlers.transfer(container, "ada", "bob", 30) == {"status": 200}
    assert await handlers.transfer(container, "bob", "ada", 31) == {"status": 409, "error": "insufficient funds"}
    assert (await handlers.balance(container, "ada"), await handlers.balance(container, "bob")) == (70, 30)
