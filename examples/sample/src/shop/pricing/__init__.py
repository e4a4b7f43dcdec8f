"""Prices: sums, discounts and taxes."""

from .discounts import apply_discounts
from .tax import tax_for


def total_price(items) -> int:
    subtotal = apply_discounts(sum(item.cents for item in items), len(items))
    return subtotal + sum(tax_for(item) for item in items)
