"""The test whose fixtures are being set up, so the hot fixtures need not ask for ``request``.

pytest builds a new pseudo-fixture each time a fixture names ``request`` (pytest 9
inspects a lambda's signature for it): about 0.1 ms, paid per fixture per test.
``async_db_session`` and the database fixtures under it run for every
integration test, so they read the item from here instead; the plugin sets it
around each test's setup, call and teardown.
"""

from __future__ import annotations

from typing import Generator, Optional

import pytest

from ..engine import query_count

_current: Optional[pytest.Item] = None


def item() -> pytest.Item:
    if _current is None:
        raise RuntimeError(
            "async-test's database fixtures were used outside a test run by the async_test plugin: "
            "load the plugin (it is registered as the pytest11 entry point 'async_test'; "
            "'-p no:async_test' disables it) or use the fixtures only from tests."
        )
    return _current


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    global _current
    previous = _current
    _current = item
    query_count.test_started()
    try:
        yield
    finally:
        _current = previous
