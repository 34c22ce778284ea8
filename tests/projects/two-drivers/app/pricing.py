from decimal import ROUND_HALF_UP, Decimal


def unit_price(base: Decimal, quantity: int) -> Decimal:
    """Volume discount: 5% from 10 units, 10% from 100."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    if quantity >= 100:
        rate = Decimal("0.90")
    elif quantity >= 10:
        rate = Decimal("0.95")
    else:
        rate = Decimal("1")
    return (base * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def order_total(base: Decimal, quantity: int, vat: Decimal = Decimal("0.20")) -> Decimal:
    net = unit_price(base, quantity) * quantity
    return (net * (1 + vat)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def restock_needed(quantity: int, minimum: int = 5) -> bool:
    return quantity < minimum
