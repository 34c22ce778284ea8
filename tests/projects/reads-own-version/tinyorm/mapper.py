"""Rows in and out of one table."""

from __future__ import annotations

from typing import Any, Dict, List

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

metadata = MetaData()
notes = Table("tinyorm_notes", metadata, Column("id", Integer, primary_key=True), Column("text", String(200)))


class Mapper:
    def __init__(self, database: Any) -> None:
        self.database = database

    async def add(self, text: str) -> int:
        async with self.database.engine.begin() as conn:
            result = await conn.execute(insert(notes).values(text=text))
            return int(result.inserted_primary_key[0])

    async def all(self) -> List[Dict[str, Any]]:
        async with self.database.engine.connect() as conn:
            rows = (await conn.execute(select(notes).order_by(notes.c.id))).mappings().all()
            return [dict(r) for r in rows]

    async def create_schema(self) -> None:
        async with self.database.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def drop_schema(self) -> None:
        async with self.database.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
