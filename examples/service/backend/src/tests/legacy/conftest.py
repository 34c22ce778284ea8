"""A suite that keeps its own hand-written fixture (new engine + create_all per test).

Its ``async_db_session`` overrides the harness's: pytest's rule, and ours.
"""

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from myservice.models import Base
from myservice.settings import DATABASE_URL


@pytest_asyncio.fixture
async def async_db_session():
    engine = create_async_engine(DATABASE_URL)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        session.info["hand_written"] = True
        yield session
        await session.rollback()
    await engine.dispose()
