"""Pattern 2: the real schema, isolated per test even though the service commits."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from myservice.models import User
from myservice.services.users import UserService


async def test_create_commits_and_is_visible(async_db_session):
    user = await UserService(async_db_session).create("Ann@Example.com", "pw")
    assert user.id is not None
    found = await UserService(async_db_session).get_by_email("ann@example.com")  # citext: case-insensitive
    assert found is not None and found.id == user.id


async def test_previous_commit_did_not_leak(async_db_session):
    count = await async_db_session.scalar(select(func.count()).select_from(User))
    assert count == 0


async def test_unique_email_violation_rolls_back_cleanly(async_db_session):
    service = UserService(async_db_session)
    await service.create("bob@example.com", "pw")
    with pytest.raises(IntegrityError):
        await service.create("BOB@example.com", "pw")
    await async_db_session.rollback()
    assert await service.get_by_email("bob@example.com") is not None


@pytest.mark.integration(isolation="database")
async def test_with_a_database_of_its_own(async_engine):
    """Real commits across connections: this test gets a fresh clone of the template."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    sessions = async_sessionmaker(async_engine, expire_on_commit=False)
    async with sessions() as first:
        await UserService(first).create("carol@example.com", "pw")
    async with sessions() as second:
        assert await UserService(second).get_by_email("carol@example.com") is not None
