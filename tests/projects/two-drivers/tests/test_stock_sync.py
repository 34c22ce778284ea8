import pytest
from sqlalchemy import text

from app.models import Base
from app.stock import add_warehouse, receive
from tests.common import sync_engine


@pytest.fixture
def sync_tables():
    Base.metadata.create_all(sync_engine)
    yield sync_engine
    Base.metadata.drop_all(sync_engine)


def test_runs_on_postgresql_with_psycopg(sync_tables):
    assert sync_tables.dialect.name == "postgresql"
    assert sync_tables.dialect.driver == "psycopg"
    with sync_tables.connect() as conn:
        assert "PostgreSQL" in conn.scalar(text("SELECT version()"))


def test_receive_stock(sync_tables):
    assert sync_tables.dialect.name == "postgresql"
    warehouse = add_warehouse(sync_tables, "NORTH")
    receive(sync_tables, warehouse, "SKU-1", 7)
    with sync_tables.connect() as conn:
        assert conn.scalar(text("SELECT sum(quantity) FROM stock")) == 7
