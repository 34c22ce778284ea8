"""Every use of another library's private attributes, in one place.

The harness reaches into pytest, pytest-asyncio, SQLAlchemy and asyncpg where no public API
does what it needs. Each such access lives here, behind a typed function whose docstring names
the versions it was checked on and what degrades if the attribute goes away. No other module of
the package touches a private attribute of those libraries (``tests/unit/test_compat.py`` scans
for it), and the same test file checks every accessor against the installed versions, so a
rename shows up as a failing test in ``nox -s compat`` rather than as a workaround silently off.

Checked on: pytest 7.0-9.x (the ``nox -s compat`` matrix installs 8.4 and 9.2, ``nox -s old_pins`` 7.0.1 and
7.1.2 with pytest-cov 3.0.0), pytest-asyncio
0.23-1.5, SQLAlchemy 2.0/2.1, asyncpg 0.32 (as installed), CPython 3.11.

A workaround whose attribute is missing at run time does not fail the user's run: it is
skipped, and :func:`degraded` records one line naming the library and its version, which the
plugin prints in pytest's terminal summary (and writes as a warning event for ``async-test
run``'s summary). It is not a Python warning: a suite run with ``-W error`` would then fail a
test over the harness's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import pytest

# --------------------------------------------------------------------------- degradation notes

_notes: Dict[str, str] = {}
_received: Dict[str, str] = {}


def library_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"


def degraded(distribution: str, what: str, consequence: str) -> None:
    """Record, once per process, that a workaround is off because ``distribution`` changed."""
    key = f"{distribution}: {what}"
    if key not in _notes:
        _notes[key] = (
            f"{distribution} {library_version(distribution)}: {what}, so {consequence}. "
            "Tests still run; please report this to async-test with the version named here."
        )


def degradations(own: bool = False) -> List[str]:
    """The notes recorded by :func:`degraded` in this process, in order, then (unless ``own``)
    those received from xdist workers, each once."""
    notes = list(_notes.values())
    return notes if own else notes + [m for m in _received if m not in notes]


def add_degradations(messages: Sequence[str]) -> None:
    """Notes from another process (an xdist worker), reported once with this process's."""
    for message in messages:
        _received.setdefault(message, message)


# --------------------------------------------------------------------------- pytest


def ini_was_set(config: pytest.Config, name: str) -> bool:
    """Did the project set this ini option (in a file or with ``-o``)?

    pytest >= 9 keeps the file's values and ``-o`` overrides in ``config._inicfg`` (``inicfg`` is a
    deprecated proxy there); pytest 7.4-8.x keep the file's in the public ``config.inicfg`` and
    the overrides in ``config._override_ini``, also read from ``known_args_namespace``. Checked on
    pytest 7.4, 8.3, 8.4, 9.0-9.2. If all of these disappear the option reads as unset: the
    harness would then set its session-loop default over the project's own choice, so that case
    is recorded with :func:`degraded`.
    """
    raw: Any = getattr(config, "_inicfg", None)
    if raw is None:
        raw = getattr(config, "inicfg", None)
    if raw is None:
        degraded("pytest", "neither Config._inicfg nor Config.inicfg exists",
                 "a loop scope set in the project's ini file may be overridden by async-test's default")
        raw = {}
    if name in raw:
        return True
    overrides = getattr(config, "_override_ini", None) or getattr(config.known_args_namespace, "override_ini", None)
    return any(str(item).split("=", 1)[0].strip() == name for item in overrides or ())


def ini_as_written(config: pytest.Config, name: str) -> Any:
    """An ini value as the file wrote it, for a value ``getini`` refuses (pytest 9's native
    ``[tool.pytest]`` keeps TOML types and refuses a bool for an option registered as a string).

    Reads ``config._inicfg[name].value`` (pytest 9.0-9.2; a bare value is accepted too). Only
    pytest >= 9 refuses such values, so only there is this reached. If ``_inicfg`` goes away the
    option reads as unset (the default applies): recorded with :func:`degraded`.
    """
    raw: Any = getattr(config, "_inicfg", None)
    if raw is None:
        degraded("pytest", f"Config._inicfg is gone and getini() refused {name}",
                 f"the value of {name} in the project's configuration is ignored")
        return None
    value = raw.get(name)
    return getattr(value, "value", value)


def set_ini_default(config: pytest.Config, name: str, value: Any) -> bool:
    """Make ``config.getini(name)`` return ``value`` from now on, for every plugin.

    There is no public way to give another plugin's ini option a default; pytest's ini cache
    ``config._inicache`` (a dict, pytest 7.4-9.2) is what ``getini`` reads first. Returns False,
    recorded with :func:`degraded`, if the cache is gone: pytest-asyncio then keeps its own
    default (function-scoped loops: one new connection per test, slower but correct).
    """
    cache: Any = getattr(config, "_inicache", None)
    if not isinstance(cache, dict):
        degraded("pytest", "Config._inicache is gone",
                 f"async-test cannot default {name} to {value!r}; tests get pytest-asyncio's default loop scope")
        return False
    cache[name] = value
    return True


def request_of(item: pytest.Item) -> pytest.FixtureRequest:
    """The test's own ``request`` (``Function._request``, pytest 7.4-9.2), for ``getfixturevalue``
    from a fixture that does not itself request ``request`` (that costs ~0.1 ms a fixture).

    No fallback exists: without it the harness cannot reach a fixture by name, so a clear error
    names the pytest version instead of an AttributeError.
    """
    request: Any = getattr(item, "_request", None)
    if request is None:
        raise RuntimeError(
            f"async-test: pytest {library_version('pytest')} has no Function._request on {item.nodeid}; "
            "this pytest version is not supported by this async-test version"
        )
    return request  # type: ignore[no-any-return]


def item_of(request: Any) -> Optional[pytest.Item]:
    """The test a fixture is being set up for (``FixtureRequest._pyfuncitem``, pytest 7.4-9.2).

    ``request.node`` is the scope's node (the session for a session fixture), not the test.
    If the attribute goes away this returns None, recorded with :func:`degraded`: the harness's
    fixtures then follow the default loop scope and ignore a test's ``loop_scope`` marker.
    """
    if not hasattr(request, "_pyfuncitem"):
        degraded("pytest", "FixtureRequest._pyfuncitem is gone",
                 "async-test's fixtures ignore a test's asyncio loop_scope marker")
        return None
    item: Optional[pytest.Item] = request._pyfuncitem
    return item


def fixture_defs(item: pytest.Item, name: str) -> Optional[Sequence[Any]]:
    """pytest's override chain for fixture ``name`` as ``item`` sees it, the active one last.

    ``session._fixturemanager.getfixturedefs(name, item)`` (pytest >= 8.1; 7.4-8.0 take the
    node id). Returns None, recorded with :func:`degraded`, if the manager is gone: callers
    must then assume the fixture may be overridden and request it (slower, still correct).
    """
    manager: Any = getattr(item.session, "_fixturemanager", None)
    if manager is None or not hasattr(manager, "getfixturedefs"):
        degraded("pytest", "Session._fixturemanager.getfixturedefs is gone",
                 "db_url is requested through pytest for every test (a little slower)")
        return None
    try:
        defs: Optional[Sequence[Any]] = manager.getfixturedefs(name, item)  # pytest >= 8.1
    except (AttributeError, TypeError):
        defs = manager.getfixturedefs(name, item.nodeid)  # pytest 7.4-8.0
    return defs


def fixture_closure(item: pytest.Item) -> Optional[Mapping[str, Sequence[Any]]]:
    """Each fixture name of the test's closure mapped to its override chain
    (``Function._fixtureinfo.name2fixturedefs``, pytest 7.4-9.2).

    Returns None, recorded with :func:`degraded`, if it is gone: the classifier then takes any
    harness fixture name in the closure as a database fixture (a project's same-named plain
    fixture would then count as a database one).
    """
    info: Any = getattr(item, "_fixtureinfo", None)
    if info is None:
        if hasattr(item, "fixturenames"):  # a Function (only those have fixtures) without the attribute
            degraded("pytest", "Function._fixtureinfo is gone",
                     "tests are classified by fixture name only, not by which fixture provides it")
        return None
    name2defs: Mapping[str, Sequence[Any]] = getattr(info, "name2fixturedefs", {})
    return name2defs


def register_fixtures_after(session: pytest.Session, holder: Any) -> bool:
    """Register the fixtures found on ``holder`` (a module) now, so they win over any registered before.

    ``session._fixturemanager.parsefactories``: keyword ``holder=``/``node=`` on pytest >= 9,
    positional ``(holder, nodeid)`` on 7.4-8.x. Returns False, recorded with :func:`degraded`, if
    the manager is gone: another plugin's fixture named like one of the harness's (a library's
    own ``db_url``) may then lose to the harness's.
    """
    manager: Any = getattr(session, "_fixturemanager", None)
    if manager is None or not hasattr(manager, "parsefactories"):
        degraded("pytest", "Session._fixturemanager.parsefactories is gone",
                 "another plugin's fixture named like an async-test fixture may lose to async-test's")
        return False
    try:
        manager.parsefactories(holder=holder, node=session)  # pytest >= 9
    except TypeError:
        manager.parsefactories(holder, "")  # pytest 7 and 8
    return True


def is_fixture_function(obj: Any) -> bool:
    """Is ``obj`` a function decorated with ``@pytest.fixture``?

    pytest >= 8.4 wraps it in a ``FixtureFunctionDefinition``; 7.4-8.3 mark the function with
    ``_pytestfixturefunction``. Silent by design: this is asked of every attribute of every
    plugin, and a miss only means another plugin's same-named fixture is not re-registered
    (the test suite checks both spellings against the installed pytest).
    """
    return obj is not None and (
        type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(obj, "_pytestfixturefunction")
    )


def cache_dir(config: pytest.Config) -> Optional[Path]:
    """pytest's cache directory (``config.cache._cachedir``, pytest 7.4-9.2), or None.

    None without a recorded note when the cache plugin is off (``-p no:cacheprovider``); with
    :func:`degraded` when the cache exists but the attribute is gone: the masking of secrets in
    the cache's files is then skipped.
    """
    cache: Any = getattr(config, "cache", None)
    if cache is None:
        return None
    path: Any = getattr(cache, "_cachedir", None)
    if path is None:
        degraded("pytest", "Cache._cachedir is gone", "secrets are not masked in .pytest_cache")
        return None
    return Path(path)


def runtest_protocol() -> Optional[Callable[..., List[pytest.TestReport]]]:
    """pytest's ``_pytest.runner.runtestprotocol`` (pytest 7.4-9.2; pytest-rerunfailures relies on it
    too): one run of an item (set-up, call, teardown), its reports returned and, with ``log=False``,
    not reported. None with :func:`degraded` when it is gone: failed tests are then not re-run
    (plugin/rerun.py).
    """
    try:
        from _pytest.runner import runtestprotocol
    except ImportError:
        degraded("pytest", "_pytest.runner.runtestprotocol is gone", "failed tests are not re-run (no flaky tests)")
        return None
    found: Callable[..., List[pytest.TestReport]] = runtestprotocol
    return found


# --------------------------------------------------------------------------- pytest-asyncio


@contextlib.contextmanager
def fixture_loop_scope(func: Any, scope: str) -> Iterator[None]:
    """Run the setup of an async fixture made by ``pytest_asyncio.fixture`` in the ``scope`` loop.

    pytest-asyncio 1.1-1.5 store a fixture's loop scope on its function as ``_loop_scope`` and
    read it at setup; it is set for the duration of the setup and restored. Older versions fix
    the loop at collection (the caller does not use this there). If the attribute is gone the
    fixture keeps its own loop, recorded with :func:`degraded`: a test pinning another
    ``loop_scope`` then gets asyncpg's "attached to a different loop".
    """
    target = func  # pytest-asyncio reads ``getattr(fixturedef.func, "_loop_scope", None)``
    if not hasattr(target, "_loop_scope"):
        degraded("pytest-asyncio", "fixture functions have no _loop_scope",
                 "async-test's async fixtures do not follow a test's asyncio loop_scope marker")
        yield
        return
    previous: Optional[str] = target._loop_scope
    target._loop_scope = scope
    try:
        yield
    finally:
        target._loop_scope = previous


def scoped_runner_fixture(scope: str) -> str:
    """The name of pytest-asyncio's fixture holding the ``asyncio.Runner`` of a loop scope
    (``_<scope>_scoped_runner``, pytest-asyncio 1.0-1.5)."""
    return f"_{scope}_scoped_runner"


def loop_of_scope(item: pytest.Item, scope: str) -> asyncio.AbstractEventLoop:
    """The event loop pytest-asyncio runs ``scope``-scoped tests of ``item`` in, found as it finds
    it: the ``_<scope>_scoped_runner`` fixture's runner (pytest-asyncio 1.1-1.5; only called there).

    No fallback exists (the harness would otherwise run its fixture in a loop the test does not
    use): a missing fixture fails the test with an error naming the pytest-asyncio version.
    """
    name = scoped_runner_fixture(scope)
    try:
        runner = request_of(item).getfixturevalue(name)
    except pytest.FixtureLookupError as exc:
        raise RuntimeError(
            f"async-test: pytest-asyncio {library_version('pytest-asyncio')} has no fixture {name}; "
            "this pytest-asyncio version is not supported by this async-test version"
        ) from exc
    loop: asyncio.AbstractEventLoop = runner.get_loop()
    return loop


# --------------------------------------------------------------------------- SQLAlchemy


def restart_savepoint_names(sync_connection: Any) -> None:
    """Make the next SAVEPOINT of this ``Connection`` ``sa_savepoint_1`` again.

    SQLAlchemy numbers savepoints per connection in the name-mangled ``Connection.__savepoint_seq``
    (``_Connection__savepoint_seq``, SQLAlchemy 2.0.x and 2.1.x); the isolation sends each test's
    first savepoint ahead under that name. If the counter is gone the names never match: each
    test sends its SAVEPOINT itself (one more round trip), recorded with :func:`degraded`.
    """
    if sync_connection is None:
        return
    if not hasattr(sync_connection, "_Connection__savepoint_seq"):
        degraded("SQLAlchemy", "Connection.__savepoint_seq is gone",
                 "each test sends its own SAVEPOINT (one more round trip a test)")
        return
    sync_connection._Connection__savepoint_seq = 0


def driver_behind(adapter: Any) -> Any:
    """The asyncpg connection (or the loop bridge's relay of one) under SQLAlchemy's asyncpg
    adapter (``AsyncAdapt_asyncpg_connection._connection``, SQLAlchemy 2.0.x and 2.1.x).

    Not the public ``driver_connection`` of the pool's record: that one is cached when the
    connection is made, and the loop bridge replaces the adapter's. Returns None, recorded with
    :func:`degraded`, if the attribute is gone: connections are then closed gracefully (slower)
    and a closed loop's sockets are left to the garbage collector.
    """
    if adapter is None:
        return None
    if not hasattr(adapter, "_connection"):
        degraded("SQLAlchemy", "the asyncpg adapter has no _connection",
                 "async-test closes connections the slow way and cannot abort them when a loop is gone")
        return None
    return adapter._connection


def rebind_execute_mutex(adapter: Any) -> None:
    """Give SQLAlchemy's asyncpg adapter a new ``asyncio.Lock`` (``_execute_mutex``, SQLAlchemy
    2.0.x and 2.1.x): the old one binds to the first loop that ever waited on it.

    If the attribute is gone (recorded with :func:`degraded`), a test whose statements contend
    that lock can break the next test on another loop ("attached to a different loop").
    """
    if not hasattr(adapter, "_execute_mutex"):
        degraded("SQLAlchemy", "the asyncpg adapter has no _execute_mutex",
                 "a lock contended in one test's loop may break the next test's")
        return
    if adapter._execute_mutex is not None:
        adapter._execute_mutex = asyncio.Lock()


# --------------------------------------------------------------------------- asyncpg


def register_outer_transaction(driver: Any) -> None:
    """Tell asyncpg about the transaction it did not start, as it knew when SQLAlchemy started it.

    Code that takes the raw driver connection and uses ``async with conn.transaction():`` then
    gets a SAVEPOINT inside the test's transaction, instead of asyncpg's "cannot use
    Connection.transaction() in a manually started transaction". Uses ``Connection._top_xact``,
    ``Transaction._state`` and ``asyncpg.transaction.TransactionState`` (asyncpg 0.32). If
    they change, only that error comes back, for code that does this; recorded with :func:`degraded`.
    """
    try:
        from asyncpg.transaction import TransactionState

        if getattr(driver, "_top_xact", None) is None:
            outer = driver.transaction()
            outer._state = TransactionState.STARTED
            driver._top_xact = outer
    except Exception as exc:
        degraded("asyncpg", f"registering the test's transaction failed ({type(exc).__name__}: {exc})",
                 "`async with conn.transaction()` on the raw driver connection fails inside a test")


def socket_of(driver: Any) -> Optional[socket.socket]:
    """The socket under an asyncpg connection (``Connection._transport``, asyncpg 0.32, and
    the asyncio transport's ``_sock``, CPython 3.11), to close it when its loop is gone and
    asyncpg cannot. None when the connection has no open transport; if the attributes are gone
    (recorded with :func:`degraded`) the socket is left to the garbage collector.
    """
    if driver is None:
        return None
    if not hasattr(driver, "_transport"):
        degraded("asyncpg", "Connection._transport is gone",
                 "a connection whose loop closed keeps its socket until garbage collection")
        return None
    transport = driver._transport
    if transport is None:
        return None
    sock: Optional[socket.socket] = getattr(transport, "_sock", None)
    return sock
