from sqlalchemy import text


async def test_select(async_db_session):
    assert await async_db_session.scalar(text("SELECT 41 + 1")) == 42
