"""A tiny shop: carts, prices, taxes."""

from shop.cart import Cart

__all__ = ["Cart"]
