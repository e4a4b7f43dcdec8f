import pytest


class TestOuter:
    class TestInner:
        def test_z(self):
            assert True

    @pytest.mark.parametrize("x", [1, 2])
    def test_y(self, x):
        assert x


class TestWithInit:
    def __init__(self):
        pass

    def test_never(self):
        pass


async def test_async():
    pass

def test_broken(:
    import after_error
