"""Sales tax per category."""

try:
    import ujson as json  # optional speed-up: a weak import
except ImportError:
    import json

RATES = json.loads('{"general": 20, "food": 5}')


def tax_for(item) -> int:
    return item.cents * RATES.get(item.category, 20) // 100
