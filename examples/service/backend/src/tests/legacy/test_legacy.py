from sqlalchemy import text


async def test_hand_written_fixture_wins(async_db_session):
    assert async_db_session.info.get("hand_written") is True
    assert await async_db_session.scalar(text("select 1")) == 1
