from decimal import Decimal

import pytest

from app.pricing import order_total, restock_needed, unit_price


@pytest.mark.parametrize(("quantity", "expected"), [(1, "10.00"), (10, "9.50"), (100, "9.00")])
def test_volume_discount(quantity, expected):
    assert unit_price(Decimal("10.00"), quantity) == Decimal(expected)


def test_quantity_must_be_positive():
    with pytest.raises(ValueError):
        unit_price(Decimal("1"), 0)


def test_order_total_adds_vat():
    assert order_total(Decimal("10.00"), 2) == Decimal("24.00")


def test_restock_threshold():
    assert restock_needed(4) and not restock_needed(5)
