from shop.pricing.discounts import apply_discounts


def test_ten_items_get_ten_percent_off():
    assert apply_discounts(1000, 10) == 900


def test_few_items_pay_full_price():
    assert apply_discounts(1000, 2) == 1000
