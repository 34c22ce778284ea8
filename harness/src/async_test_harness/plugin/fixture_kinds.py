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
"""

from __future__ import annotations

from typing import Any, Generator, List

import pytest

from . import blocker, coverage_contexts

PLUGIN_NAME = "async_test_fixture_kinds"


class FixtureKinds:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, None]:
        if fixturedef.scope == "function" or not hasattr(fixturedef, "addfinalizer"):
            yield  # torn down inside the test that set it up, under its kind
            return
        setup_state = blocker.current()
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
        fixturedef.addfinalizer(enter)  # runs before it
        error = outcome.excinfo[1] if outcome.excinfo else None
        if setup_state is not None and isinstance(error, blocker.DatabaseBlockedError):
            # Refused to a unit test: not cached for the rest of its scope (finish() forgets the
            # failure and runs its finalizers), so a later integration test sets it up again,
            # unblocked, as the integration process would have.
            fixturedef.finish(request)


def register(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(FixtureKinds(), PLUGIN_NAME)
