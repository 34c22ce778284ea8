"""Mock-only tests: collaborators patched where the service imports them, a spec'd session."""

from unittest.mock import AsyncMock, MagicMock, patch

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.services.users import EmailTaken, UserService


def mock_session(existing=None):
    session = MagicMock(spec=AsyncSession)
    session.scalar = AsyncMock(return_value=existing)
    session.commit = AsyncMock()
    return session


@patch("app.services.users.send_welcome", new_callable=AsyncMock)
@patch("app.services.users.hash_password", return_value="hashed")
async def test_register_hashes_commits_and_welcomes(hash_password, send_welcome):
    session = mock_session()
    user = await UserService(session).register("ada@example.com", "secret")
    assert user.password_hash == "hashed"
    hash_password.assert_called_once_with("secret")
    session.add.assert_called_once_with(user)
    session.commit.assert_awaited_once()
    send_welcome.assert_awaited_once_with("ada@example.com")


@patch("app.services.users.send_welcome", new_callable=AsyncMock)
async def test_register_refuses_a_taken_email(send_welcome):
    session = mock_session(existing=User(email="ada@example.com", password_hash="x"))
    with pytest.raises(EmailTaken):
        await UserService(session).register("ada@example.com", "secret")
    session.commit.assert_not_awaited()
    send_welcome.assert_not_awaited()


async def test_get_by_email_returns_what_the_query_finds():
    found = User(email="bob@example.com", password_hash="x")
    assert await UserService(mock_session(existing=found)).get_by_email("bob@example.com") is found
