"""A failed test is run once more, at once: a pass on the re-run marks it flaky (issue 25).

A test whose body failed (its call; set-up and teardown passed) runs again in the same process with
fresh function-scoped fixtures: the harness's isolation gives the re-run a fresh transaction (a
database of its own for ``isolation="database"``), so nothing the first attempt wrote is left. Only
the last attempt's reports reach pytest's reporting (the terminal, JUnit, the events file): a test
that passes on the re-run is reported passed, with the user property ``FLAKY_PROPERTY`` (the first
failure's first line), which the events file carries and the comparison lists as flaky; a test that
fails twice is reported with its second failure.

Not re-run: a failing set-up or teardown (pytest keeps a failed set-up's error for the node, so a
re-run would only repeat it), a test stopped by the per-test timeout (it would hang as long again, and
the timeout's one timer covers the first attempt only), a skip or an expected failure, and every
test when the ``rerun_failures`` setting is off. The re-run is the first attempt's protocol again
(``runtestprotocol``, pytest's private runner function, behind ``compat.runtest_protocol``), as
pytest-rerunfailures does for call failures.
"""

from __future__ import annotations

import signal
from typing import Any, Callable, List, Optional

import pytest

from .. import compat
from ..engine import query_count
from .timeout import TestTimeout

FLAKY_PROPERTY = "async_test_flaky"
PLUGIN_NAME = "async_test_rerun"


def _call_failure(reports: List[pytest.TestReport]) -> Optional[pytest.TestReport]:
    """The failed call report, when set-up and teardown passed; else None (nothing to re-run)."""
    by_phase = {r.when: r for r in reports}
    call = by_phase.get("call")
    if call is None or not call.failed or hasattr(call, "wasxfail"):
        return None
    if any(r.failed for r in reports if r.when != "call"):
        return None
    if TestTimeout.__name__ in str(call.longrepr):  # stopped by the timeout: a re-run would hang as long
        return None
    return call


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr or "failed")
    return " ".join(text.splitlines()[:1])[:300] or "failed"


class Rerun:
    def __init__(self, protocol: Callable[..., List[pytest.TestReport]]) -> None:
        self.protocol = protocol

    # Not tryfirst: the harness's tryfirst implementations (coverage contexts) must still run first;
    # registered after pytest's own runner, this one is called before it and ends the hook (True).
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Optional[pytest.Item]) -> Any:
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        properties = list(item.user_properties)  # as collection left them (the test's kind)
        reports = self.protocol(item, nextitem=nextitem, log=False)
        failure = _call_failure(reports)
        if failure is not None:
            # The re-run's reports carry only its own properties and statement count, not the sum.
            item.user_properties[:] = properties
            query_count.test_started()
            _rearm_timeout(item)
            again = self.protocol(item, nextitem=nextitem, log=False)
            if not any(r.failed for r in again):
                for report in again:
                    report.user_properties.append((FLAKY_PROPERTY, _first_line(failure)))
            reports = again
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True


def _rearm_timeout(item: pytest.Item) -> None:
    """The re-run gets the whole per-test time limit again, not what the first attempt left of it."""
    timer = item.config.pluginmanager.get_plugin("async_test_timeout")  # timeout.register's name
    seconds = getattr(timer, "seconds", 0)
    if seconds:
        signal.setitimer(signal.ITIMER_REAL, seconds)


def register(config: pytest.Config, enabled: bool) -> None:
    if not enabled or config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    protocol = compat.runtest_protocol()
    if protocol is not None:  # else compat recorded why: pytest's own protocol runs every test once
        config.pluginmanager.register(Rerun(protocol), PLUGIN_NAME)
