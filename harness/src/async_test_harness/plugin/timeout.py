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
    """Arms an interval timer around each test.

    The SIGALRM handler is installed once for the session, not per test: swapping
    handlers costs two ``signal.signal`` calls a test (about 0.1 ms here, a sixth of
    a database test's whole overhead), and only the timer needs re-arming.
    """

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.current: Any = None
        self.previous_handler: Any = None

    def expire(self, signum: int, frame: Any) -> None:
        item = self.current
        if item is None:  # fired between tests (cannot normally happen: the timer is disarmed)
            return
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        raise TestTimeout(
            f"{item.nodeid} exceeded the per-test timeout of {self.seconds}s (async_test_timeout). "
            "The stacks of all threads at that moment are in the captured stderr. A test that waits for a "
            "lock another test holds, or for a connection a previous test left open, hangs this way."
        )

    def install(self) -> None:
        self.previous_handler = signal.signal(signal.SIGALRM, self.expire)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self.previous_handler is not None:
            signal.signal(signal.SIGALRM, self.previous_handler)
            self.previous_handler = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
        self.current = item
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.current = None


def register(config: pytest.Config, seconds: int) -> str:
    if seconds <= 0:
        return ""
    if not SUPPORTED:
        return f"timeout {seconds}s ignored: this platform has no SIGALRM"
    plugin = TimeoutPlugin(seconds)
    plugin.install()
    config.pluginmanager.register(plugin, "async_test_timeout")
    return f"per-test timeout {seconds}s"
