"""Unit and integration coverage told apart inside one pytest session.

``async-test run`` runs both kinds of test in one pytest process, so the project is imported and
collected once (two processes paid for both twice: 1.4-1.6 times a plain ``pytest --cov``). coverage.py's
dynamic context records which kind ran each line: ``unit`` while a unit test runs (set-up, call,
teardown), ``integration`` while an integration test runs. What runs outside any test (imports,
collection, session teardown after the last test) stays in the empty context, and the runner
counts it for both kinds, as each kind's own process ran it before. The runner orders unit tests
first, so the context changes about once per process (each switch flushes coverage's data).

Requested by the runner through ``ENV_VAR``; a project's own dynamic contexts
(``dynamic_context``, ``--cov-context``) make the runner use two processes instead.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

import pytest

from .classify import CLASSIFICATION_KEY, UNIT

ENV_VAR = "_ASYNC_TEST_COVERAGE_CONTEXTS"
PLUGIN_NAME = "async_test_coverage_contexts"
# --record-map (testmap.py): a context per test, "<kind>|<nodeid>", so the map knows which test ran what.
# Each switch flushes coverage's data: the cost is measured in docs/affected.md, and paid only when asked.
PER_TEST_ENV_VAR = "_ASYNC_TEST_CONTEXT_PER_TEST"  # runner/session.py's PER_TEST_ENV


def per_test() -> bool:
    return os.environ.get(PER_TEST_ENV_VAR) == "1"


def requested() -> bool:
    return os.environ.get(ENV_VAR) == "1"


def unit_first(items: List[pytest.Item]) -> None:
    """Unit tests, then integration tests, each in the order they came (a random order stays random)."""
    items.sort(key=lambda item: 0 if _kind(item) == UNIT else 1)


def _kind(item: pytest.Item) -> Optional[str]:
    found = item.stash.get(CLASSIFICATION_KEY, None)
    return found.kind if found is not None else None


class ContextSwitcher:
    def __init__(self) -> None:
        self.current: Optional[str] = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
        kind = _kind(item)
        if kind is not None and per_test():
            kind = f"{kind}|{item.nodeid}"
        if kind is None or kind == self.current:
            return
        cov = _running_coverage()
        if cov is not None:
            cov.switch_context(kind)
        self.current = kind


def _running_coverage() -> Any:
    try:
        import coverage
    except ImportError:
        return None
    return coverage.Coverage.current()  # public since coverage 5.0: pytest-cov's, in this process


def register(config: pytest.Config, items: List[pytest.Item]) -> None:
    unit_first(items)
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(ContextSwitcher(), PLUGIN_NAME)
