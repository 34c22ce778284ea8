import asyncpg
import pytest

from myapp.billing import bill, format_cents, outstanding


async def test_runs_on_its_own_postgresql(conn):
    assert "PostgreSQL" in await conn.fetchval("SELECT version()")
    assert await conn.fetchval("SELECT current_database()") == "myapp"


async def test_bill_and_sum(conn):
    await bill(conn, "acme", 1250)
    await bill(conn, "acme", 50)
    assert await outstanding(conn, "acme") == 1300


async def test_each_test_sees_a_clean_table(conn):
    assert await conn.fetchval("SELECT count(*) FROM invoices") == 0


async def test_constraint_rejects_zero(conn):
    with pytest.raises(asyncpg.CheckViolationError):
        await bill(conn, "acme", 0)


def test_format_cents():
    assert format_cents(1205) == "12.05"
