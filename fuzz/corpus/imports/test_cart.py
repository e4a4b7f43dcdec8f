from shop import Cart


def test_total_includes_tax(apple):
    cart = Cart()
    cart.add(apple)
    assert cart.total() == 105
