"""The app's own configuration: one variable, MYAPP_DB (a libpq URL)."""

import os

import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS invoices (
    id serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    cents int NOT NULL CHECK (cents > 0),
    paid boolean NOT NULL DEFAULT false
);
"""


def database_url() -> str:
    try:
        return os.environ["MYAPP_DB"]
    except KeyError:
        raise RuntimeError("set MYAPP_DB to the test database, e.g. postgresql://myapp:pw@localhost/myapp") from None


async def connect() -> asyncpg.Connection:
    return await asyncpg.connect(database_url())
