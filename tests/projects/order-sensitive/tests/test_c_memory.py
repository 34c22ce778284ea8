from kvstore import MemoryBackend


async def test_missing_is_none():
    assert await MemoryBackend().get("nope") is None


async def test_set_then_get():
    store = MemoryBackend()
    await store.set("a", 1)
    assert await store.get("a") == 1


def test_backends_are_distinct():
    assert MemoryBackend()._data is not MemoryBackend()._data
