import pytest

from shop.catalog import Item


@pytest.fixture
def apple():
    return Item("apple", 100, "food")
