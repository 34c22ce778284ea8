def test_oops(:
    pass
