import pytest
from sqlalchemy import text

from app.pricing import total


async def test_prices_from_db(async_db_session):
    rows = (await async_db_session.execute(text("SELECT 1 WHERE false"))).scalars().all()
    assert total(rows) == 0


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture exploded")  # SETUP-FAILS-HERE


def test_setup_error(broken_fixture, db_url):
    pass


async def test_ok(async_db_session):
    assert await async_db_session.scalar(text("SELECT 1")) == 1
