"""A small key-value store with several backends (the shape of a library with many extras)."""

from __future__ import annotations

from typing import Any, Dict, Optional


class MemoryBackend:
    def __init__(self) -> None:
        self._data: Dict[str, Any] = {}

    async def get(self, key: str) -> Optional[Any]:
        return self._data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self._data[key] = value


class PostgresBackend:
    """Stores values in a table through an asyncpg pool it is given."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def get(self, key: str) -> Optional[Any]:
        return await self.pool.fetchval("SELECT value FROM kv WHERE key = $1", key)

    async def set(self, key: str, value: Any) -> None:
        await self.pool.execute(
            "INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2", key, value)
