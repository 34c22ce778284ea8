"""A broader fixture is torn down under the kind of the test that set it up.

Both kinds run in one pytest session in the project's own order (``async-test run``; a plain
``pytest`` on a configured project too), the kind switched around each test: the database blocked
for a unit test, coverage's context set to its kind. A session- or module-scoped fixture set up by
an integration test is torn down when pytest leaves its scope, which may be inside a *unit* test's
teardown (the run's last test is a unit test): its teardown ran with the database blocked, where
the integration process it stands in for ran it unblocked. Each such fixture therefore gets two
finalizers around its own teardown (pytest runs a fixture's finalizers last-in, first-out): one
added after its set-up switches to the blocking state and coverage context of that set-up, one
added before it switches back. A unit test's own set-up of a broad fixture stays blocked, and so
does its teardown, as in the unit process; one refused to a unit test is set up again by the next
test that asks for it.

A broader fixture that tests of both kinds request is set up (and torn down) under coverage's empty
context, which counts for both kinds: two processes each set it up, so its lines ran in both passes.
"""

from __future__ import annotations

from typing import Any, Dict, Generator, List, Sequence, Set

import pytest

from . import blocker, coverage_contexts
from .classify import CLASSIFICATION_KEY

PLUGIN_NAME = "async_test_fixture_kinds"


class FixtureKinds:
    def __init__(self, items: Sequence[pytest.Item] = ()) -> None:
        self.kinds: Dict[str, Set[str]] = {}  # fixture name -> the kinds of the selected tests that request it
        for item in items:
            found = item.stash.get(CLASSIFICATION_KEY, None)
            if found is not None:
                for name in getattr(item, "fixturenames", ()):
                    self.kinds.setdefault(name, set()).add(found.kind)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, None]:
        if fixturedef.scope == "function" or not hasattr(fixturedef, "addfinalizer"):
            yield  # torn down inside the test that set it up, under its kind
            return
        setup_state = blocker.current()
        shared = (len(self.kinds.get(fixturedef.argname, ())) > 1 and not coverage_contexts.per_test()
                  and coverage_contexts.current_kind() is not None)
        before = coverage_contexts.switch("") if shared else None  # "": counted for both kinds
        setup_kind = coverage_contexts.current_kind()
        saved: List[Any] = []

        def enter() -> None:
            saved.append((blocker.swap(setup_state), coverage_contexts.switch(setup_kind)))

        def leave() -> None:
            if saved:
                state, kind = saved.pop()
                blocker.swap(state)
                coverage_contexts.switch(kind)

        fixturedef.addfinalizer(leave)  # runs after the fixture's own teardown
        outcome = yield
        if shared:
            coverage_contexts.switch(before)
        fixturedef.addfinalizer(enter)  # runs before it
        error = outcome.excinfo[1] if outcome.excinfo else None
        if setup_state is not None and isinstance(error, blocker.DatabaseBlockedError):
            # Refused to a unit test: not cached for the rest of its scope (finish() forgets the
            # failure and runs its finalizers), so a later integration test sets it up again,
            # unblocked, as the integration process would have.
            fixturedef.finish(request)


def register(config: pytest.Config, items: Sequence[pytest.Item] = ()) -> None:
    """``items``: the session's selected tests (which kinds request each fixture)."""
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(FixtureKinds(items), PLUGIN_NAME)
