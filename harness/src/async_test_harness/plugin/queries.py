"""Queries per test: the count each test reports, and the ``assert_num_queries`` / ``assert_max_queries`` fixtures.

The counting is ``engine.query_count``'s; this module gives it to pytest. A test's count runs from
its start to the teardown of the harness's database fixture it used (``record``, called by
``async_db_session`` and ``async_engine`` as they end), and travels as the report's user property
``async_test_statements`` (so it crosses from xdist workers too, and is in the JUnit file); the
events file takes it from there (events.py) and the runner lists the heaviest tests.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

from ..engine import query_count

PROPERTY = "async_test_statements"


def record(item: Any) -> None:
    """The test's statements so far, as its user property (replacing an earlier fixture's figure)."""
    count = query_count.since_test_start()
    if not count:
        return
    properties = item.user_properties
    for index, (name, _) in enumerate(properties):
        if name == PROPERTY:
            properties[index] = (PROPERTY, count)
            return
    properties.append((PROPERTY, count))


class ExpectedQueries:
    """``with assert_max_queries(3) as captured:`` (or ``async with``): the block's statements,
    checked as it ends. ``captured`` lists their text (``captured.statements``, ``len(captured)``).
    A block that raises is not checked: its own error says more."""

    def __init__(self, num: int, exact: bool = True, connection: Any = None, info: Optional[str] = None) -> None:
        if not isinstance(num, int) or isinstance(num, bool) or num < 0:
            raise TypeError(f"the number of queries must be an int >= 0, not {num!r}")
        self.num = num
        self.exact = exact
        self.info = info
        self.captured = query_count.Capture(query_count.sync_target(connection))

    def __enter__(self) -> query_count.Capture:
        return self.captured.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        __tracebackhide__ = True
        self.captured.stop()
        if exc_type is not None:
            return
        message = query_count.expectation_failed(self.num, self.captured.statements, self.exact, self.info)
        if message is not None:
            pytest.fail(message)

    async def __aenter__(self) -> query_count.Capture:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        __tracebackhide__ = True
        self.__exit__(exc_type, exc, tb)


@pytest.fixture
def assert_num_queries() -> Callable[..., ExpectedQueries]:
    """``with assert_num_queries(2): ...`` fails the test unless the block executes exactly 2 SQL
    statements through the harness's engines (``async_db_session``, ``async_engine``, ``api_client``).

    ``assert_num_queries(num, exact=True, connection=None, info=None)``, as pytest-django's
    ``django_assert_num_queries``: ``exact=False`` means at most ``num``; ``connection`` counts
    only one engine, connection or session (any engine: a project's own is listened to for the
    block); ``info`` is added to the message, which lists the statements executed (no parameters).
    """

    def expect(num: int, exact: bool = True, connection: Any = None, info: Optional[str] = None) -> ExpectedQueries:
        return ExpectedQueries(num, exact, connection, info)

    return expect


@pytest.fixture
def assert_max_queries() -> Callable[..., ExpectedQueries]:
    """``with assert_max_queries(3): ...`` fails the test when the block executes more than 3 SQL
    statements (pytest-django's ``django_assert_max_num_queries``): ``assert_max_queries(num,
    connection=None, info=None)``, see ``assert_num_queries``."""

    def expect(num: int, connection: Any = None, info: Optional[str] = None) -> ExpectedQueries:
        return ExpectedQueries(num, False, connection, info)

    return expect
