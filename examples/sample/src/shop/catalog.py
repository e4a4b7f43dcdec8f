"""Items for sale."""

import attrs


@attrs.frozen
class Item:
    name: str
    cents: int
    category: str = "general"
