"""Which event loop async tests and the harness's async fixtures run in.

Two rules, both about keeping one asyncpg connection usable:

1. Default: when a project sets no loop scope of its own, tests and async
   fixtures share one session-scoped loop (pytest-asyncio's
   ``asyncio_default_*_loop_scope`` set to ``session``), so one connection
   serves every test.  A project that sets either option keeps its choice;
   ``async_test_loop_scope = project`` opts out.
2. Per test: the harness's async fixtures run in the loop of the test that
   uses them, even when that test pins another scope with
   ``@pytest.mark.asyncio(loop_scope=...)``.  pytest-asyncio >= 1.1 chooses a
   fixture's loop at setup from the fixture function's ``_loop_scope`` (see ``compat.py``); we set it for
   the duration of that setup.  Older versions fix a fixture's loop at
   collection, so there a mismatch is reported with a fix instead of
   asyncpg's "attached to a different loop".
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from typing import Any, AsyncIterator, Generator, Optional, Tuple, TypeVar

import pytest

from .. import compat

T = TypeVar("T")

LOOP_INIS = ("asyncio_default_fixture_loop_scope", "asyncio_default_test_loop_scope")


def _pytest_asyncio_version() -> Tuple[int, ...]:
    try:
        text = version("pytest-asyncio")
    except PackageNotFoundError:
        return (0,)
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


PYTEST_ASYNCIO = _pytest_asyncio_version()
FIXTURES_FOLLOW_TEST_LOOP = PYTEST_ASYNCIO >= (1, 1)
# The harness's pytest-asyncio fixtures, whose loop this module chooses. Where fixtures can follow
# the test's loop, async_db_session is a plain fixture that drives its own coroutine there (drive).
FOLLOWING_FIXTURES = ("async_engine", "api_client") + (() if FIXTURES_FOLLOW_TEST_LOOP else ("async_db_session",))


def ini_is_set(config: pytest.Config, name: str) -> bool:
    """Did the project set this ini option (in a file or with -o)?"""
    return compat.ini_was_set(config, name)


def apply_default(config: pytest.Config, loop_scope_setting: str) -> str:
    """Apply rule 1; returns the line for the report header."""
    if not config.pluginmanager.hasplugin("asyncio"):
        return "pytest-asyncio is not active"
    try:
        for name in LOOP_INIS:
            config.getini(name)
    except ValueError:
        return (
            "function (this pytest-asyncio has no asyncio_default_test_loop_scope; one new connection per test; "
            "pytest-asyncio >= 0.26 allows the faster session-loop default)"
        )
    if loop_scope_setting == "project":
        return "left to the project (async_test_loop_scope = project)"
    if any(ini_is_set(config, name) for name in LOOP_INIS):
        values = ", ".join(f"{n}={config.getini(n)}" for n in LOOP_INIS)
        return f"the project's own ({values})"
    if not all([compat.set_ini_default(config, name, "session") for name in LOOP_INIS]):
        return "pytest-asyncio's default (async-test could not set its session-loop default on this pytest)"
    return (
        "session, set by async-test because the project sets none (one connection reused across tests); "
        "opt out with async_test_loop_scope = project"
    )


def runs_under_anyio(item: Any) -> bool:
    """An anyio test (``@pytest.mark.anyio``) runs in a loop of anyio's own runner, not
    pytest-asyncio's: the harness's connection must reach it through the loop bridge."""
    return item is not None and "anyio_backend" in getattr(item, "fixturenames", ())


def test_loop_scope(item: Any, config: pytest.Config) -> str:
    if runs_under_anyio(item):
        return "function"
    marker = item.get_closest_marker("asyncio") if item is not None else None
    if marker is not None:
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
        if scope:
            return str(scope)
    try:
        return str(config.getini("asyncio_default_test_loop_scope") or "function")
    except ValueError:
        return "function"


def fixture_loop_scope(config: pytest.Config, fixture_scope: str) -> str:
    try:
        value = config.getini("asyncio_default_fixture_loop_scope")
    except ValueError:
        value = None
    return str(value or fixture_scope)


def _is_ours(fixturedef: Any) -> bool:
    return fixturedef.argname in FOLLOWING_FIXTURES and str(
        getattr(fixturedef.func, "__module__", "")
    ).startswith("async_test_harness.")


def mismatch_error(fixture: str, fixture_scope: str, test_scope: str) -> str:
    return (
        f"{fixture} would run in the {fixture_scope}-scoped event loop but this test runs in a "
        f"{test_scope}-scoped loop, and a database connection cannot cross loops. Fix: use the same scope for "
        f"both (set asyncio_default_fixture_loop_scope = {test_scope}, or drop loop_scope from this test's "
        "asyncio marker), or upgrade pytest-asyncio to >= 1.1, where the harness's fixtures follow each test's loop."
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Generator[None, None, None]:
    if not _is_ours(fixturedef):
        yield
        return
    item = compat.item_of(request)
    wanted = test_loop_scope(item, request.config)
    if not FIXTURES_FOLLOW_TEST_LOOP:
        actual = fixture_loop_scope(request.config, fixturedef.scope)
        if item is not None and item.get_closest_marker("asyncio") is not None and actual != wanted:
            pytest.fail(mismatch_error(fixturedef.argname, actual, wanted), pytrace=False)
        yield
        return
    with compat.fixture_loop_scope(fixturedef.func, wanted):
        yield


SESSION_LOOP_KEY = pytest.StashKey[asyncio.AbstractEventLoop]()


def test_loop(item: Any, scope: Optional[str] = None) -> asyncio.AbstractEventLoop:
    """The loop this test will run in (pytest-asyncio >= 1.1), as pytest-asyncio itself finds it:
    in the ``_<scope>_scoped_runner`` fixture's ``asyncio.Runner``.

    A session-scoped loop is looked up once, not for every test (``getfixturevalue`` is a
    noticeable part of a 0.5 ms test); it is looked up again once it has closed.
    """
    scope = scope or test_loop_scope(item, item.config)
    if scope == "session":
        cached: Optional[asyncio.AbstractEventLoop] = item.config.stash.get(SESSION_LOOP_KEY, None)
        if cached is not None and not cached.is_closed():
            return cached
    loop = compat.loop_of_scope(item, scope)
    if scope == "session":
        item.config.stash[SESSION_LOOP_KEY] = loop
    return loop


def drive(item: Any, agen: AsyncIterator[T], scope: Optional[str] = None) -> Generator[T, None, None]:
    """Run a one-yield async generator as a plain fixture body, on the test's loop."""
    loop = test_loop(item, scope)
    value = loop.run_until_complete(agen.__anext__())
    try:
        yield value
    finally:
        try:
            loop.run_until_complete(agen.__anext__())
        except StopAsyncIteration:
            pass
        else:
            raise RuntimeError("async fixture generator yielded twice")
