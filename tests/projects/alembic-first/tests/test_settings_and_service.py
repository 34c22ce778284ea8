from unittest.mock import AsyncMock, MagicMock

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account
from app.services import AccountService, InsufficientFunds
from app.settings import CISettings, LocalSettings, load_settings


def test_service_environment_selects_the_settings(monkeypatch):
    monkeypatch.setenv("SERVICE_ENVIRONMENT", "local")
    monkeypatch.delenv("DB_DSN", raising=False)
    assert load_settings().db_dsn.endswith("@db:5432/ledger")
    monkeypatch.setenv("SERVICE_ENVIRONMENT", "ci")
    with pytest.raises(ValidationError):
        CISettings()
    monkeypatch.setenv("DB_DSN", "postgresql+asyncpg://u:p@elsewhere:5432/x")
    assert isinstance(load_settings(), CISettings) and not isinstance(LocalSettings(), CISettings)


async def test_transfer_refuses_an_overdraft_without_writing():
    session = MagicMock(spec=AsyncSession)
    session.scalar = AsyncMock(side_effect=[Account(owner="a", balance=5), Account(owner="b", balance=0)])
    with pytest.raises(InsufficientFunds):
        await AccountService(session).transfer("a", "b", 10)
    session.add.assert_not_called()
    session.flush.assert_not_awaited()
