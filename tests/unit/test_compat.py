"""compat.py against the installed pytest, pytest-asyncio, SQLAlchemy and asyncpg.

Each accessor is checked on real objects of the installed versions, and none may fall back
(``compat.degradations()`` stays empty): a private attribute renamed by a new release fails
here, in ``nox -s compat``, instead of silently turning a workaround off. The last test keeps
every such access inside compat.py.
"""

from __future__ import annotations

import ast
import asyncio
import socket
import types
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from async_test_harness import compat
from async_test_harness.plugin.fixtures import _db_url_function
from async_test_harness.plugin.hooks import event_loops
from async_test_harness.server.postgres import ServerInfo, SupervisedServer

PACKAGE = Path(compat.__file__).resolve().parent


@pytest.fixture
def no_degradation() -> Iterator[None]:
    """The accessors used in the test must find what they rely on: no fallback note."""
    saved = dict(compat._notes)
    compat._notes.clear()
    try:
        yield
        assert compat.degradations(own=True) == []
    finally:
        compat._notes.clear()
        compat._notes.update(saved)


# --------------------------------------------------------------------------- pytest


def test_ini_was_set_sees_the_file_and_o_overrides(request, pytester, no_degradation):
    assert compat.ini_was_set(request.config, "asyncio_mode")  # this repository's pyproject.toml
    assert not compat.ini_was_set(request.config, "xfail_strict")
    config = pytester.parseconfig("-p", "no:async_test", "-o", "xfail_strict=true")
    assert compat.ini_was_set(config, "xfail_strict")
    assert not compat.ini_was_set(config, "console_output_style")


@pytest.mark.skipif(int(pytest.__version__.split(".")[0]) < 9, reason="only pytest >= 9 refuses such values")
def test_ini_as_written_reads_a_value_getini_refuses(pytester, no_degradation):
    pytester.makepyprojecttoml("[tool.pytest]\nasync_test_probe = false\n")
    pytester.makeconftest("def pytest_addoption(parser):\n    parser.addini('async_test_probe', help='probe')\n")
    config = pytester.parseconfigure("-p", "no:async_test")
    with pytest.raises((pytest.UsageError, TypeError, ValueError)):
        config.getini("async_test_probe")
    assert compat.ini_as_written(config, "async_test_probe") is False


def test_set_ini_default_is_what_getini_returns(pytester, no_degradation):
    config = pytester.parseconfig("-p", "no:async_test")
    assert config.getini("console_output_style") != "probe"
    assert compat.set_ini_default(config, "console_output_style", "probe")
    assert config.getini("console_output_style") == "probe"


def test_request_of_reaches_fixtures_by_name(request, no_degradation):
    test_request = compat.request_of(request.node)
    assert isinstance(test_request, pytest.FixtureRequest)
    assert test_request.getfixturevalue("tmp_path_factory") is request.getfixturevalue("tmp_path_factory")


@pytest.fixture(scope="module")
def module_fixture_sees_item(request: pytest.FixtureRequest) -> Any:
    return compat.item_of(request)


@pytest.fixture
def function_fixture_sees_item(request: pytest.FixtureRequest) -> Any:
    return compat.item_of(request)


def test_item_of_is_the_test_for_any_fixture_scope(request, module_fixture_sees_item, function_fixture_sees_item,
                                                   no_degradation):
    assert function_fixture_sees_item is request.node
    assert module_fixture_sees_item is request.node  # the first test of the module to use it


@pytest.fixture
def tmp_path(tmp_path: Path) -> Path:  # overrides pytest's own for this module
    return tmp_path


def test_fixture_defs_is_the_override_chain_active_last(request, tmp_path, no_degradation):
    defs = compat.fixture_defs(request.node, "tmp_path")
    assert defs is not None and len(defs) >= 2
    assert defs[-1].func.__module__ == __name__ and defs[0].func.__module__ != __name__
    db_url = compat.fixture_defs(request.node, "db_url")
    assert db_url is not None and db_url[-1].func is _db_url_function
    assert not compat.fixture_defs(request.node, "no_such_fixture_anywhere")


def test_fixture_closure_lists_the_tests_fixtures(request, tmp_path, no_degradation):
    closure = compat.fixture_closure(request.node)
    assert closure is not None
    assert "tmp_path" in closure and closure["tmp_path"][-1].func.__module__ == __name__


def test_register_fixtures_after_makes_them_visible_and_active(request, no_degradation):
    @pytest.fixture(name="compat_probe_registered_late")
    def probe() -> str:
        return "late"

    holder = types.ModuleType("compat_probe_holder")
    holder.compat_probe_registered_late = probe  # type: ignore[attr-defined]
    assert compat.register_fixtures_after(request.session, holder)
    defs = compat.fixture_defs(request.node, "compat_probe_registered_late")
    assert defs
    assert request.getfixturevalue("compat_probe_registered_late") == "late"


def test_is_fixture_function_knows_this_pytests_fixtures(no_degradation):
    @pytest.fixture
    def a_fixture() -> None:
        return None

    def plain() -> None:
        return None

    assert compat.is_fixture_function(a_fixture)
    assert compat.is_fixture_function(pytest_asyncio.fixture(plain))
    assert not compat.is_fixture_function(plain)
    assert not compat.is_fixture_function(None)


def test_cache_dir_is_pytests_cache(pytester, no_degradation):
    config = pytester.parseconfigure("-p", "no:async_test", "-p", "cacheprovider")
    path = compat.cache_dir(config)
    assert path is not None and path.name == ".pytest_cache" and path.parent == pytester.path
    assert compat.cache_dir(pytester.parseconfigure("-p", "no:async_test", "-p", "no:cacheprovider")) is None


def test_runtest_protocol_is_pytests(no_degradation):
    """plugin/rerun.py's re-run (its behaviour: tests/integration/test_rerun.py)."""
    from _pytest.runner import runtestprotocol

    assert compat.runtest_protocol() is runtestprotocol


# --------------------------------------------------------------------------- pytest-asyncio

follows = pytest.mark.skipif(not event_loops.FIXTURES_FOLLOW_TEST_LOOP,
                             reason="fixtures follow the test's loop from pytest-asyncio 1.1")


@follows
def test_fixture_loop_scope_sets_and_restores(request, no_degradation):
    defs = compat.fixture_defs(request.node, "async_engine")  # the harness's own pytest_asyncio fixture
    assert defs
    func = defs[-1].func
    before = func._loop_scope
    with compat.fixture_loop_scope(func, "module"):
        assert func._loop_scope == "module"
    assert func._loop_scope == before


@follows
async def test_loop_of_scope_is_the_running_tests_loop(request, no_degradation):
    scope = event_loops.test_loop_scope(request.node, request.config)
    assert compat.loop_of_scope(request.node, scope) is asyncio.get_running_loop()


@follows
@pytest.mark.asyncio(loop_scope="module")
async def test_loop_of_scope_follows_a_pinned_loop_scope(request, no_degradation):
    assert compat.loop_of_scope(request.node, "module") is asyncio.get_running_loop()


def test_scoped_runner_fixture_name():
    assert compat.scoped_runner_fixture("session") == "_session_scoped_runner"


# --------------------------------------------------------------------------- SQLAlchemy and asyncpg


@pytest.fixture(scope="module")
def server(pg_cluster: str) -> Iterator[ServerInfo]:
    handle = SupervisedServer(cluster=pg_cluster)
    try:
        yield handle.start()
    finally:
        handle.stop()


@pytest_asyncio.fixture
async def engine(server: ServerInfo) -> AsyncIterator[AsyncEngine]:
    url = f"postgresql+asyncpg://{server.user}:{server.password}@{server.host}:{server.port}/postgres"
    made = create_async_engine(url, poolclass=NullPool)
    try:
        yield made
    finally:
        await made.dispose()


@pytest_asyncio.fixture
async def driver(server: ServerInfo) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                                 database="postgres")
    try:
        yield conn
    finally:
        await conn.close()


async def test_restart_savepoint_names(engine, no_degradation):
    async with engine.connect() as conn:
        names: list[str] = []
        for ends in ("release_savepoint", "rollback_savepoint"):  # "savepoint" is told the name before it is made
            event.listen(conn.sync_connection, ends, lambda _conn, name, _context: names.append(name))
        await conn.begin()
        for _ in range(2):
            nested = await conn.begin_nested()
            await nested.commit()
        compat.restart_savepoint_names(conn.sync_connection)
        nested = await conn.begin_nested()
        await nested.rollback()
        assert names == ["sa_savepoint_1", "sa_savepoint_2", "sa_savepoint_1"]
        compat.restart_savepoint_names(None)


async def test_driver_behind_and_rebind_execute_mutex(engine, no_degradation):
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        adapter = raw.dbapi_connection
        driver = compat.driver_behind(adapter)
        assert isinstance(driver, asyncpg.Connection) and driver is raw.driver_connection
        assert compat.driver_behind(None) is None
        before = adapter._execute_mutex
        compat.rebind_execute_mutex(adapter)
        assert isinstance(adapter._execute_mutex, asyncio.Lock) and adapter._execute_mutex is not before
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


async def test_register_outer_transaction_makes_transaction_a_savepoint(driver, no_degradation):
    await driver.execute("BEGIN")
    with pytest.raises(asyncpg.InterfaceError, match="manually started transaction"):
        async with driver.transaction():
            pass
    compat.register_outer_transaction(driver)
    async with driver.transaction():
        await driver.execute("CREATE TEMP TABLE compat_probe (x int)")
    assert driver.is_in_transaction()
    assert await driver.fetchval("SELECT count(*) FROM compat_probe") == 0
    await driver.execute("ROLLBACK")


async def test_socket_of_is_the_connections_socket(driver, no_degradation):
    sock = compat.socket_of(driver)
    assert isinstance(sock, socket.socket) and sock.fileno() >= 0
    assert compat.socket_of(None) is None


# --------------------------------------------------------------------------- when an attribute is gone


@pytest.fixture
def notes() -> Iterator[list[str]]:
    saved = dict(compat._notes)
    compat._notes.clear()
    try:
        yield compat._notes  # type: ignore[misc]
    finally:
        compat._notes.clear()
        compat._notes.update(saved)


def test_a_missing_attribute_degrades_once_with_the_library_version(notes):
    bare = types.SimpleNamespace()
    assert not compat.set_ini_default(bare, "x", 1)  # type: ignore[arg-type]
    assert not compat.set_ini_default(bare, "y", 1)  # type: ignore[arg-type]
    compat.restart_savepoint_names(bare)
    assert compat.driver_behind(bare) is None
    compat.rebind_execute_mutex(bare)
    compat.register_outer_transaction(bare)
    assert compat.socket_of(bare) is None
    assert compat.item_of(bare) is None
    with compat.fixture_loop_scope(lambda: None, "module"):
        pass
    messages = compat.degradations(own=True)
    assert len(messages) == 8, messages  # set_ini_default twice: one note
    assert messages[0].startswith(f"pytest {pytest.__version__}: Config._inicache is gone")
    assert any(m.startswith("SQLAlchemy ") for m in messages) and any(m.startswith("asyncpg ") for m in messages)


def test_degradations_are_printed_in_the_terminal_summary(pytester):
    pytester.makeconftest(
        "from async_test_harness import compat\n"
        "def pytest_configure(config):\n"
        "    compat.degraded('pytest', 'Something._private is gone', 'a workaround is off')\n"
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"async-test: warning: pytest {pytest.__version__}: Something._private is gone, "
                                 "so a workaround is off.*"])


# --------------------------------------------------------------------------- only compat.py


LIBRARY_PRIVATE = ("_scoped_runner", "TransactionState")
# Private attributes of the harness's own objects, not of a library.
OWN_PRIVATE = {
    ("relay.py", "_target"),  # the harness's Relay
}
OWN_PREFIX = "_async_test_"  # the harness's own marker attributes on library objects (a dialect)


def _private_accesses(source: str, filename: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            name = node.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                  "getattr", "setattr", "hasattr", "delattr", "__getattribute__", "__setattr__")
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str)):
            if isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls"):
                continue
            name = node.args[1].value
        elif isinstance(node, (ast.Constant, ast.Name, ast.alias)):
            value = node.value if isinstance(node, ast.Constant) else (
                node.id if isinstance(node, ast.Name) else node.name)
            if isinstance(value, str) and not any(c.isspace() for c in value) and any(  # not prose
                    marker in value for marker in LIBRARY_PRIVATE):
                yield getattr(node, "lineno", 0), value
            continue
        if name is None or not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        if name.startswith(OWN_PREFIX) or (filename, name) in OWN_PRIVATE:
            continue
        yield node.lineno, name


# compat.py for the test process; runner/coverage_compat.py for the runner, which never imports pytest.
COMPAT_MODULES = ("compat.py", "coverage_compat.py")


def test_only_compat_touches_private_attributes_of_libraries():
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {name}"
        for path in sorted(PACKAGE.rglob("*.py")) if path.name not in COMPAT_MODULES
        for line, name in _private_accesses(path.read_text(encoding="utf-8"), path.name)
    ]
    assert found == [], "move these into compat.py (or allow-list the harness's own attributes):\n" + "\n".join(found)


def test_the_scan_finds_what_it_should():
    source = (
        "from asyncpg.transaction import TransactionState\n"
        "def f(config, item, driver, self, scope):\n"
        "    config._inicache['x'] = 1\n"
        "    getattr(item, '_request')\n"
        "    item.getfixturevalue(f'_{scope}_scoped_runner')\n"
        "    self._mine = 1\n"
        "    driver.__class__\n"
        "    driver._async_test_mark = True\n"
    )
    found = sorted(name for _, name in _private_accesses(source, "probe.py"))
    assert found == sorted(["TransactionState", "_inicache", "_request", "_scoped_runner"])


# --------------------------------------------------------------------------- whole runs


REAL_RUN = '''
from sqlalchemy import text


async def test_session_and_raw_driver_transaction(async_db_session):
    assert await async_db_session.scalar(text("SELECT 1")) == 1
    raw = await (await async_db_session.connection()).get_raw_connection()
    async with raw.driver_connection.transaction():  # needs compat.register_outer_transaction
        await raw.driver_connection.execute("CREATE TEMP TABLE probe (x int)")


async def test_db_url_and_next_transaction(db_url, async_db_session):
    assert db_url.startswith("postgresql+asyncpg://")
    assert await async_db_session.scalar(text("SELECT 2")) == 2
'''


def test_a_real_run_needs_no_fallback(pytester, run_pytest):
    """The harness's whole hot path on the installed versions reports no missing attribute."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_real=REAL_RUN)
    result = run_pytest()
    result.assert_outcomes(passed=2)
    assert "async-test: warning" not in result.stdout.str()


def test_xdist_workers_degradations_reach_the_controllers_summary(pytester):
    pytester.makeconftest(
        "from async_test_harness import compat\n"
        "def pytest_configure(config):\n"
        "    if hasattr(config, 'workerinput'):\n"
        "        compat.degraded('asyncpg', 'Something._private is gone', 'a workaround is off')\n"
    )
    pytester.makepyfile("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-n", "2")
    result.assert_outcomes(passed=2)
    lines = [line for line in result.stdout.lines if "Something._private is gone" in line]
    assert len(lines) == 1 and lines[0].startswith("async-test: warning: asyncpg "), lines


# --------------------------------------------------------------------------- coverage.py (the runner's)


def test_coverage_parses_each_file_once_across_reports_and_restores(tmp_path):
    """runner/coverage_compat.py: coverage.py's PythonFileReporter.parser, shared per file and patterns."""
    import coverage
    from coverage.python import PythonFileReporter

    from async_test_harness.runner.coverage_compat import parse_each_file_once

    source = tmp_path / "mod.py"
    source.write_text("def f(x):\n    if x:\n        return 1\n    return 2\n")
    before = PythonFileReporter.__dict__["parser"]
    first, second = coverage.Coverage(data_file=None), coverage.Coverage(data_file=None)
    with parse_each_file_once() as on:
        assert on, "coverage.py no longer has PythonFileReporter.parser as this module expects"
        a, b = PythonFileReporter(str(source), first), PythonFileReporter(str(source), second)
        assert a.parser is b.parser and a.lines() == b.lines() == {1, 2, 3, 4}
    assert PythonFileReporter.__dict__["parser"] is before
    assert PythonFileReporter(str(source), first).parser is not a.parser  # outside the block: as before
