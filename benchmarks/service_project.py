"""A generated service of realistic weight, for the "async-test run vs pytest --cov" rows (issue 14).

A FastAPI app over a 20-table SQLAlchemy model, with services that query it; ``unit`` mock-based
tests (an ``AsyncMock`` session, no database) and ``integration`` tests on ``async_db_session``,
half of them through the HTTP API. Imports are those of a real service (FastAPI, pydantic,
SQLAlchemy, httpx), so collection costs what it costs in one.
"""

from __future__ import annotations

from pathlib import Path

TABLES = 20

MODELS = '''\
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass

'''

MODEL = '''

class Table{i}(Base):
    __tablename__ = "table_{i}"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    amount: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
{parent}
'''

PARENT = '''    parent_id: Mapped[int | None] = mapped_column(ForeignKey("table_{p}.id"), nullable=True)
    parent: Mapped["Table{p}"] = relationship()
'''

SERVICES = '''\
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models


class Item(BaseModel):
    id: int
    name: str
    amount: int


def table(n: int):
    return getattr(models, f"Table{n}")


async def create(session: AsyncSession, n: int, name: str, amount: int) -> Item:
    if not name:
        raise ValueError("a name is required")
    row = table(n)(name=name, amount=amount)
    session.add(row)
    await session.commit()
    return Item(id=row.id, name=row.name, amount=row.amount)


async def total(session: AsyncSession, n: int) -> int:
    value = await session.scalar(select(func.coalesce(func.sum(table(n).amount), 0)))
    return int(value or 0)


async def names(session: AsyncSession, n: int, prefix: str) -> list:
    rows = await session.scalars(select(table(n).name).where(table(n).name.like(prefix + "%")).order_by(table(n).name))
    return list(rows)


def discount(amount: int, percent: int) -> int:
    if not 0 <= percent <= 100:
        raise ValueError("percent out of range")
    return amount - amount * percent // 100
'''

APP = '''\
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app import services
from app.settings import DATABASE_URL

engine = create_async_engine(DATABASE_URL)
Session = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    async with Session() as session:
        yield session


class NewItem(BaseModel):
    name: str
    amount: int = 0


app = FastAPI()


@app.post("/tables/{n}/items")
async def create_item(n: int, item: NewItem, session: AsyncSession = Depends(get_session)):
    try:
        return await services.create(session, n, item.name, item.amount)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@app.get("/tables/{n}/total")
async def get_total(n: int, session: AsyncSession = Depends(get_session)):
    return {"total": await services.total(session, n)}
'''

SETTINGS = '''\
import os

DATABASE_URL = os.environ.get("ASYNC_DATABASE_URL", "postgresql+asyncpg://postgres@localhost/app")
'''

CONFTEST = '''\
import pytest

from app.models import Base


@pytest.fixture
async def client(async_db_session):
    import httpx

    from app.main import app, get_session

    app.dependency_overrides[get_session] = lambda: async_db_session
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c
    app.dependency_overrides.clear()
'''

UNIT_TESTS = '''\
from unittest.mock import AsyncMock, MagicMock

import pytest

from app import services
from app.main import app  # a real service's unit tests import the app module too

N = {n}


@pytest.mark.parametrize("i", range({count}))
async def test_total_from_a_mocked_session(i):
    session = MagicMock()
    session.scalar = AsyncMock(return_value=i)
    assert await services.total(session, N) == i


@pytest.mark.parametrize("percent", [0, 10, 50])
def test_discount(percent):
    assert services.discount(200, percent) == 200 - 2 * percent


def test_bad_discount():
    with pytest.raises(ValueError):
        services.discount(1, 101)
    assert app.title
'''

INTEGRATION_TESTS = '''\
import pytest

from app import services

N = {n}


@pytest.mark.parametrize("i", range({count}))
async def test_create_and_total(async_db_session, i):
    await services.create(async_db_session, N, f"item-{{i}}", i)
    await services.create(async_db_session, N, f"other-{{i}}", 1)
    assert await services.total(async_db_session, N) == i + 1
    assert await services.names(async_db_session, N, "item-") == [f"item-{{i}}"]


@pytest.mark.parametrize("i", range({api}))
async def test_through_the_api(client, i):
    created = await client.post(f"/tables/{{N}}/items", json={{"name": f"api-{{i}}", "amount": i}})
    assert created.status_code == 200, created.text
    assert (await client.get(f"/tables/{{N}}/total")).json() == {{"total": i}}
'''

PYTEST_INI = '''\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
pythonpath = src
testpaths = tests
'''


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def generate(root: Path, unit: int = 150, integration: int = 150) -> Path:
    """Write the service into ``root``: ``unit`` mock tests and ``integration`` database tests."""
    models = MODELS
    for i in range(TABLES):
        parent = PARENT.format(p=i - 1) if i else ""
        models += MODEL.format(i=i, parent=parent)
    write(root / "pytest.ini", PYTEST_INI)
    write(root / "pyproject.toml", '[tool.async-test]\nmetadata = "app.models:Base.metadata"\n')
    write(root / "src" / "app" / "__init__.py", "")
    write(root / "src" / "app" / "models.py", models)
    write(root / "src" / "app" / "services.py", SERVICES)
    write(root / "src" / "app" / "main.py", APP)
    write(root / "src" / "app" / "settings.py", SETTINGS)
    write(root / "tests" / "conftest.py", CONFTEST)
    files = 5
    for f in range(files):
        if unit:
            # each file: count parametrized + 3 discount + 1 bad = count + 4 tests
            count = max(unit // files - 4, 1)
            write(root / "tests" / "unit" / f"test_services_{f}.py", UNIT_TESTS.format(n=f, count=count))
        if integration:
            api = integration // files // 3
            count = integration // files - api
            write(root / "tests" / "integration" / f"test_db_{f}.py",
                  INTEGRATION_TESTS.format(n=f, count=count, api=api))
    return root
