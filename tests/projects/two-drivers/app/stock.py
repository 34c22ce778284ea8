from sqlalchemy import Engine, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from app.models import Stock, Warehouse


def add_warehouse(engine: Engine, code: str) -> int:
    with Session(engine) as session:
        warehouse = Warehouse(code=code)
        session.add(warehouse)
        session.commit()
        return warehouse.id


def receive(engine: Engine, warehouse_id: int, sku: str, quantity: int) -> None:
    with Session(engine) as session, session.begin():
        session.add(Stock(warehouse_id=warehouse_id, sku=sku, quantity=quantity))


async def on_hand(engine: AsyncEngine, sku: str) -> int:
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.coalesce(func.sum(Stock.quantity), 0)).where(Stock.sku == sku))
    return int(total)


async def warehouses_holding(engine: AsyncEngine, sku: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            select(Warehouse.code).join(Stock, Stock.warehouse_id == Warehouse.id)
            .where(Stock.sku == sku, Stock.quantity > 0).order_by(Warehouse.code).distinct()
        )
    return list(rows)
