"""The storefront: what a customer sees of the shop."""

from storefront.checkout import receipt

__all__ = ["receipt"]
