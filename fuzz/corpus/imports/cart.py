"""A shopping cart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from shop.pricing import total_price

if TYPE_CHECKING:
    from shop.catalog import Item


@attrs.define
class Cart:
    items: list[Item] = attrs.field(factory=list)

    def add(self, item: Item) -> None:
        self.items.append(item)

    def total(self) -> int:
        return total_price(self.items)
