"""The project's own async_db_session (root conftest) on the database its settings point at."""

import uuid
from decimal import Decimal
from unittest.mock import AsyncMock, patch

import pytest
from sqlalchemy import text

from app.services.users import EmailTaken, UserService


def unique_email() -> str:
    # The hand-written fixture keeps what a test commits: tests must not collide on data.
    return f"{uuid.uuid4().hex[:12]}@example.com"


async def test_runs_on_postgresql(async_db_session):
    version = await async_db_session.scalar(text("SELECT version()"))
    assert "PostgreSQL" in version


@patch("app.services.users.send_welcome", new_callable=AsyncMock)
async def test_register_then_find(send_welcome, async_db_session):
    assert async_db_session.bind.dialect.name == "postgresql"
    service = UserService(async_db_session)
    email = unique_email()
    user = await service.register(email, "secret")
    assert user.id is not None
    assert (await service.get_by_email(email)).id == user.id
    with pytest.raises(EmailTaken):
        await service.register(email, "again")


@patch("app.services.users.send_welcome", new_callable=AsyncMock)
async def test_orders_add_up(send_welcome, async_db_session):
    assert async_db_session.bind.dialect.name == "postgresql"
    service = UserService(async_db_session)
    user = await service.register(unique_email(), "secret")
    spent = await service.place_orders(user, [Decimal("10.50"), Decimal("4.25")])
    assert spent == Decimal("14.75")
