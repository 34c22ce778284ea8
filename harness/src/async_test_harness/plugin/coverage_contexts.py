"""Unit and integration coverage told apart inside one pytest session.

``async-test run`` runs both kinds of test in one pytest process, so the project is imported and
collected once (two processes paid for both twice: 1.4-1.6 times a plain ``pytest --cov``). coverage.py's
dynamic context records which kind ran each line: ``unit`` while a unit test runs (set-up, call,
teardown), ``integration`` while an integration test runs. What runs outside any test (imports,
collection) stays in the empty context, and the runner counts it for both kinds, as each kind's own
process ran it before. The tests run in the project's own order (sorting the unit tests first
changed outcomes: a sync fixture that builds a pool on "the current event loop" worked only before
any async test had run), so the context switches each time the kind changes; a switch flushes
coverage's collected data, which costs little next to a test (docs/run.md gives the measurements).
A broader fixture's teardown runs in the context of its set-up (plugin/fixture_kinds.py).

Requested by the runner through ``ENV_VAR``; a project's own dynamic contexts
(``dynamic_context``, ``--cov-context``) make the runner use two processes instead.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import pytest

from .classify import CLASSIFICATION_KEY

ENV_VAR = "_ASYNC_TEST_COVERAGE_CONTEXTS"
PLUGIN_NAME = "async_test_coverage_contexts"
# --record-map (testmap.py): a context per test, "<kind>|<nodeid>", so the map knows which test ran what.
# Each switch flushes coverage's data: the cost is measured in docs/affected.md, and paid only when asked.
PER_TEST_ENV_VAR = "_ASYNC_TEST_CONTEXT_PER_TEST"  # runner/session.py's PER_TEST_ENV


def per_test() -> bool:
    return os.environ.get(PER_TEST_ENV_VAR) == "1"


def requested() -> bool:
    return os.environ.get(ENV_VAR) == "1"


def _kind(item: pytest.Item) -> Optional[str]:
    found = item.stash.get(CLASSIFICATION_KEY, None)
    return found.kind if found is not None else None


class ContextSwitcher:
    def __init__(self) -> None:
        self.current: Optional[str] = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
        kind = _kind(item)
        if kind is not None:
            if per_test():  # --record-map: the test's own context, "<kind>|<nodeid>" (testmap.py)
                kind = f"{kind}|{item.nodeid}"
            self.switch(kind)

    def switch(self, kind: Optional[str]) -> Optional[str]:
        """Record lines as ``kind``'s from now on; the kind recorded before."""
        previous = self.current
        if kind is None or kind == previous:
            return previous
        cov = _running_coverage()
        if cov is not None:
            cov.switch_context(kind)
        self.current = kind
        return previous


_switcher: Optional[ContextSwitcher] = None


def current_kind() -> Optional[str]:
    """The kind lines are recorded as now (None: contexts not requested, or no test has run yet)."""
    return _switcher.current if _switcher is not None else None


def switch(kind: Optional[str]) -> Optional[str]:
    """Record lines as ``kind``'s (None: leave as is); the kind before. Nothing without contexts."""
    return _switcher.switch(kind) if _switcher is not None else None


def _running_coverage() -> Any:
    try:
        import coverage
    except ImportError:
        return None
    return coverage.Coverage.current()  # public since coverage 5.0: pytest-cov's, in this process


def register(config: pytest.Config) -> None:
    global _switcher
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        _switcher = ContextSwitcher()
        config.pluginmanager.register(_switcher, PLUGIN_NAME)
