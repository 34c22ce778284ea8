import pytest
from sqlalchemy import text

from app.container import Container
from app.settings import settings


@pytest.fixture
async def container():
    """The application's container on the migrated database; what a test commits is truncated after it."""
    app_container = Container(settings)
    yield app_container
    async with app_container.engine.begin() as conn:
        await conn.execute(text("TRUNCATE transfers, accounts RESTART IDENTITY CASCADE"))
    await app_container.shutdown()
