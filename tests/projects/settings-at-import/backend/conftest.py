"""Root conftest: the settings are read here, at import, before any test module is collected."""

import os

# The project's CI exports these (a `services: postgres` container) before pytest starts. A run
# that exports them later than this import would silently use the defaults (localhost:5432/app).
_missing = [name for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
            if not os.environ.get(name)]
assert not _missing, f"database variables not set before the first conftest was imported: {', '.join(_missing)}"

import pytest  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine  # noqa: E402

from app.config import settings  # noqa: E402
from app.models import Base  # noqa: E402


@pytest.fixture
async def async_db_session():
    engine = create_async_engine(settings.async_db_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)() as session:
        yield session
        await session.rollback()
    await engine.dispose()
