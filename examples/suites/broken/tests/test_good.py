def test_still_runs():
    assert sum([1, 2]) == 3
