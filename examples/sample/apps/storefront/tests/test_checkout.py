from shop import Cart
from shop.catalog import Item
from storefront import receipt


def test_receipt_ends_with_the_total():
    cart = Cart()
    cart.add(Item("apple", 100, "food"))
    assert receipt(cart).splitlines() == ["apple: 100", "total: 105"]
