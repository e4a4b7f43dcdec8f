"""The checkout: a cart as the customer's receipt."""

from shop.cart import Cart


def receipt(cart: Cart) -> str:
    lines = [f"{item.name}: {item.cents}" for item in cart.items]
    lines.append(f"total: {cart.total()}")
    return "\n".join(lines)
