"""Parametrized over TEST_DATABASE_URLS: every backend listed runs every test."""

import multidb
from conftest import URLS


async def test_roundtrip(engine):
    assert await multidb.roundtrip(engine, {"a": 1, "b": 2}) == {"a": 1, "b": 2}


async def test_server_name(engine):
    name = await multidb.server_name(engine)
    assert name in ("PostgreSQL", "sqlite"), name


def test_both_server_drivers_are_listed():
    """Without the variable the suite runs on sqlite alone and says nothing: the list must hold both drivers."""
    drivers = {u.split("://", 1)[0] for u in URLS}
    assert {"postgresql+asyncpg", "postgresql+psycopg"} <= drivers, URLS
