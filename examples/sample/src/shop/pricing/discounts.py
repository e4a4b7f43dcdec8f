"""Volume discounts."""


def apply_discounts(cents: int, count: int) -> int:
    if count >= 10:
        return cents * 90 // 100
    return cents
