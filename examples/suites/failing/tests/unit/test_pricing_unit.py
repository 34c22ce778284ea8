import pytest

from app.pricing import total


def test_sum():
    assert total([1, 2]) == 3


def test_wrong_expectation():
    assert total([1, 2]) == 4  # UNIT-FAILS-HERE


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug")
def test_known_bug():
    assert total([]) == 0
