"""Which async driver a URL means: the libpq form (postgresql://) gets asyncpg, sqlite:// gets aiosqlite."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def async_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{DRIVERS.get(scheme, scheme)}{sep}{rest}"


class Database:
    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = async_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url, **engine_options)

    async def close(self) -> None:
        await self.engine.dispose()
