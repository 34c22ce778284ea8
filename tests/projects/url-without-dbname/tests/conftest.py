import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.config import settings
from app.models import Base


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def database():
    """DB_URI names the server; make a fresh 'test' database on it with the sync driver."""
    server = settings.db_uri.replace("+asyncpg", "")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")  # psycopg2, the user's default database
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS test"))
        conn.execute(text("CREATE DATABASE test"))
    sync = create_engine(f"{server}/test")
    Base.metadata.create_all(sync)
    sync.dispose()
    yield f"{settings.db_uri}/test"
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS test WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
async def session(database):
    """An AsyncSession inside an outer transaction; commits only release a SAVEPOINT."""
    engine = create_async_engine(database)
    async with engine.connect() as connection:
        outer = await connection.begin()
        nested = await connection.begin_nested()
        db = AsyncSession(bind=connection, expire_on_commit=False)

        @event.listens_for(db.sync_session, "after_transaction_end")
        def reopen_savepoint(sync_session, transaction):
            nonlocal nested
            if not nested.is_active:
                nested = connection.sync_connection.begin_nested()

        yield db
        await db.close()
        await outer.rollback()
    await engine.dispose()
