from async_test_harness import result


def test_add():
    assert 1 + 1 == 2


async def test_result_builder(mock_db):
    mock_db.execute.return_value = result([(1,)], columns=["n"])
    assert (await mock_db.execute("select 1")).scalar_one() == 1
