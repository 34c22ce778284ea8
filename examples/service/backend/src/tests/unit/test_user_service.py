"""Pattern 3 on a service that builds statements: a spec'd mock session and real results."""

import asyncio

import pytest

from async_test_harness import result, scalars_result
from myservice.models import User
from myservice.services.users import UserService


async def test_get_by_email_reads_one_user(mock_db):
    ann = User(id=1, email="ann@example.com", password_hash="x")
    mock_db.execute.return_value = scalars_result([ann])

    assert await UserService(mock_db).get_by_email("ann@example.com") is ann
    assert mock_db.execute.await_count == 1
    assert "WHERE users.email = 'ann@example.com'" in mock_db.executed_sql()[0]


async def test_deactivate_all_updates_each_active_user_and_commits(mock_db):
    mock_db.execute.side_effect = [result([(1,), (2,)], columns=["id"]), None, None]

    assert await UserService(mock_db).deactivate_all() == 2
    assert mock_db.execute.await_count == 3
    mock_db.commit.assert_awaited_once()


async def test_deactivate_all_rolls_back_when_cancelled(mock_db):
    mock_db.execute.side_effect = asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await UserService(mock_db).deactivate_all()
    mock_db.rollback.assert_awaited_once()
    mock_db.commit.assert_not_awaited()
