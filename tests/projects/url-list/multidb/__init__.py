"""One query layer over several backends; which ones is the caller's list of URLs."""

from __future__ import annotations

from typing import Any, Dict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def connect(url: str, **options: Any) -> AsyncEngine:
    return create_async_engine(url, **options)


async def server_name(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return str((await conn.execute(text("select version()"))).scalar()).split()[0]
        return engine.dialect.name


async def roundtrip(engine: AsyncEngine, values: Dict[str, int]) -> Dict[str, int]:
    async with engine.begin() as conn:
        await conn.execute(text("create table if not exists kv (k varchar(20) primary key, v integer)"))
        await conn.execute(text("delete from kv"))
        for k, v in values.items():
            await conn.execute(text("insert into kv (k, v) values (:k, :v)"), {"k": k, "v": v})
        rows = (await conn.execute(text("select k, v from kv order by k"))).all()
        await conn.execute(text("drop table kv"))
    return {k: v for k, v in rows}
