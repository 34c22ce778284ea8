from typing import Any


def format_cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


async def bill(conn: Any, customer: str, cents: int) -> int:
    async with conn.transaction():
        customer_id = await conn.fetchval(
            "INSERT INTO customers (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name "
            "RETURNING id", customer)
        return int(await conn.fetchval(
            "INSERT INTO invoices (customer_id, cents) VALUES ($1, $2) RETURNING id", customer_id, cents))


async def outstanding(conn: Any, customer: str) -> int:
    return int(await conn.fetchval(
        "SELECT coalesce(sum(i.cents), 0) FROM invoices i JOIN customers c ON c.id = i.customer_id "
        "WHERE c.name = $1 AND NOT i.paid", customer))
