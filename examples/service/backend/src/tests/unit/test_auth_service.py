"""Pattern 3: services tested with their boundaries mocked; no database."""

from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock, patch

import pytest

from myservice.security import hash_password
from myservice.services.auth import AuthError, AuthService


async def test_login_the_hand_written_way():
    """As teams write it today: patch each collaborator, make each method an AsyncMock by hand."""
    user = SimpleNamespace(id=7, is_active=True, password_hash=hash_password("s3cret"))
    with patch("myservice.services.auth.UserService") as users_cls, patch(
        "myservice.services.auth.LoginLogService"
    ) as logs_cls:
        users = MagicMock()
        users.get_by_email = AsyncMock(return_value=user)
        users_cls.return_value = users
        logs = MagicMock()
        logs.record = AsyncMock(return_value=None)
        logs_cls.return_value = logs

        assert await AuthService(MagicMock()).login("a@example.com", "s3cret") == 7
        logs.record.assert_awaited_once_with(7)


async def test_login_with_patch_boundary(patch_boundary, mock_db):
    """The same test with the harness: autospec makes the async methods AsyncMock."""
    user = SimpleNamespace(id=7, is_active=True, password_hash=hash_password("s3cret"))
    patch_boundary("myservice.services.auth.UserService", get_by_email=user)
    logs = patch_boundary("myservice.services.auth.LoginLogService")

    assert await AuthService(mock_db).login("a@example.com", "s3cret") == 7
    logs.record.assert_awaited_once_with(7)


async def test_wrong_password_is_rejected(patch_boundary, mock_db):
    user = SimpleNamespace(id=7, is_active=True, password_hash=hash_password("right"))
    patch_boundary("myservice.services.auth.UserService", get_by_email=user)
    logs = patch_boundary("myservice.services.auth.LoginLogService")

    with pytest.raises(AuthError):
        await AuthService(mock_db).login("a@example.com", "wrong")
    logs.record.assert_not_awaited()
