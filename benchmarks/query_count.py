"""What counting statements costs (issue 17 item 5), in-process, without a server or pytest.

    python benchmarks/query_count.py

Per statement: ``SELECT 1`` on an in-memory SQLite engine, plain against watched by
``engine.query_count`` (the dialect wrapper), and against an engine with a ``before_cursor_execute``
listener (the first design, replaced: any engine listener turns on SQLAlchemy's execution
events). Per test: what the plugin adds to every test (``test_started``) and to one with a database
fixture (``record``, here with a count to write). Medians of alternating rounds, in microseconds;
CPU work only, so a loaded machine disturbs it far less than the per-test figures of run.py.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, List

from sqlalchemy import create_engine, event, text

from async_test_harness.engine import query_count
from async_test_harness.plugin import queries

STATEMENT = text("SELECT 1")


def per_statement_us(engine: Any, n: int = 5000) -> float:
    with engine.connect() as conn:
        began = time.perf_counter()
        for _ in range(n):
            conn.execute(STATEMENT)
        return (time.perf_counter() - began) / n * 1e6


class Item:
    """What ``record`` touches of a pytest item."""

    def __init__(self) -> None:
        self.user_properties: List[Any] = [("async_test_kind", "integration")]


def per_test_us(n: int = 100_000) -> float:
    began = time.perf_counter()
    for _ in range(n):
        item = Item()
        query_count.test_started()
        query_count._counted += 1  # the test's one statement
        queries.record(item)
    counted = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(n):
        item = Item()
    return (counted - (time.perf_counter() - began)) / n * 1e6


def paired(first: Callable[[], float], second: Callable[[], float], rounds: int = 21) -> float:
    """Median of ``second - first`` over rounds whose order alternates."""
    diffs = []
    for i in range(rounds):
        if i % 2:
            b, a = second(), first()
        else:
            a, b = first(), second()
        diffs.append(b - a)
    return statistics.median(diffs)


def main() -> None:
    plain, watched, listened = (create_engine("sqlite://") for _ in range(3))
    query_count.watch(watched)
    event.listen(listened, "before_cursor_execute", lambda *args: None)
    for engine in (plain, watched, listened):
        per_statement_us(engine)  # warm up: connection, compiled cache
    base = statistics.median(per_statement_us(plain) for _ in range(5))
    counted = paired(lambda: per_statement_us(plain), lambda: per_statement_us(watched))
    listener = paired(lambda: per_statement_us(plain), lambda: per_statement_us(listened))
    print(f"statement, plain engine:            {base:.2f} us")
    print(f"counted (dialect wrapper):          {counted:+.2f} us")
    print(f"before_cursor_execute listener:     {listener:+.2f} us")
    print(f"per test (test_started + record):   {statistics.median(per_test_us() for _ in range(7)):.2f} us")


if __name__ == "__main__":
    main()
