"""A per-test time limit, so one hung test cannot eat the whole CI job.

SIGALRM interrupts the main thread wherever it waits (a lock, a socket, an
event loop's select), the stacks of all threads are written to the test's
captured stderr, and the test fails with a message naming the limit.
Unix only; elsewhere the option is ignored with a warning in the header.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from typing import Any, Generator

import pytest


class TestTimeout(Exception):
    """The test ran longer than the configured timeout."""

    __test__ = False  # not a test class, whatever pytest's name rules say


SUPPORTED = hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer")


class TimeoutPlugin:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
        def expire(signum: int, frame: Any) -> None:
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            raise TestTimeout(
                f"{item.nodeid} exceeded the per-test timeout of {self.seconds}s (async_test_timeout). "
                "The stacks of all threads at that moment are in the captured stderr. A test that waits for a "
                "lock another test holds, or for a connection a previous test left open, hangs this way."
            )

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def register(config: pytest.Config, seconds: int) -> str:
    if seconds <= 0:
        return ""
    if not SUPPORTED:
        return f"timeout {seconds}s ignored: this platform has no SIGALRM"
    config.pluginmanager.register(TimeoutPlugin(seconds), "async_test_timeout")
    return f"per-test timeout {seconds}s"
