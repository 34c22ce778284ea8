"""The pytest plugin: options, markers, the database's lifecycle, classification, blocking.

Loaded by the ``pytest11`` entry point when the harness is installed, or with
``-p async_test_harness.plugin.hooks``.  It never writes into the project: fixtures
come from here, and a project's conftest fixture of the same name wins.

When does the database start?  Before pytest imports the first conftest (root
conftests import settings that read the environment at import) if the project
configures the harness at all; otherwise on the first test that asks for it, and
an unconfigured harness changes nothing else either (no markers, no blocking, no
loop-scope change).  With ``kind=unit`` it never starts, and connections are blocked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, Generator, List, NoReturn, Optional, Tuple

import pytest

from .. import compat
from ..engine import isolation, relay
from ..server.databases import open_transactions, run_sync
from ..server.postgres import PostgresError, trust_note
from ..server.provision import Provision, blocked_address, take_owned_server
from ..server.template import SchemaError
from ..settings import OPTIONS, UNSET_SUFFIX, Settings, SettingsError, read_pyproject_table, resolve
from . import (
    affected,
    blocker,
    coverage_concurrency,
    coverage_contexts,
    current_test,
    early_connections,
    event_loops,
    events,
    fixture_kinds,
    interrupts,
    rerun,
    selection,
    shard,
    timeout,
)
from . import classify as classify_mod
from .api import api_client  # noqa: F401
from .blocker import Blocker
from .classify import CLASSIFICATION_KEY, INTEGRATION, UNIT
from .fixtures import (  # noqa: F401  (fixtures are registered by being in this module)
    async_db_session,
    async_engine,
    async_test_database,
    db_sync_url,
    db_url,
    mock_db,
    patch_boundary,
)
from .queries import assert_max_queries, assert_num_queries  # noqa: F401
from .state import STATE_KEY, PluginState

WORKER_INPUT_KEY = "async_test_provision"
START_FAILED = "async-test: the test database could not be started."


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    coverage_concurrency.install()  # before pytest-cov makes its Coverage (its load_initial_conftests)
    if not pluginmanager.has_plugin("async_test_conftest_errors"):
        pluginmanager.register(events.ConftestErrors(), "async_test_conftest_errors")
    group = parser.getgroup("async-test", "async-test harness (ephemeral PostgreSQL, async DB fixtures)")
    for opt in OPTIONS:
        kwargs: Dict[str, Any] = {"dest": f"async_test_{opt.name}", "default": None, "help": opt.help}
        if opt.value_type == "choice":
            kwargs["choices"] = list(opt.choices)
        group.addoption(opt.cli, **kwargs)
        parser.addini(opt.ini, help=opt.help, default=None)
    shard.add_options(parser)
    affected.add_options(parser)


def _read_settings(config: pytest.Config) -> Settings:
    # known_args_namespace: at pytest_load_initial_conftests the command line is parsed only there.
    namespace = getattr(config, "known_args_namespace", None) or config.option
    cli = {opt.name: getattr(namespace, f"async_test_{opt.name}", None) for opt in OPTIONS}
    ini = {opt.name: _ini_value(config, opt.ini) for opt in OPTIONS}
    return resolve(cli, os.environ, ini, read_pyproject_table(Path(str(config.rootpath))))


def _ini_value(config: pytest.Config, name: str) -> Any:
    """An ini option as written. pytest 9's native ``[tool.pytest]`` table keeps TOML's types
    (``async_test_block_db = false``, ``async_test_extensions = ["citext"]``), which pytest refuses
    for an option registered as a string; settings.py validates every type itself, so such a
    value is read as it is (``_inicfg``: pytest >= 9, where that refusal exists)."""
    try:
        return config.getini(name)
    except (pytest.UsageError, TypeError, ValueError):
        return compat.ini_as_written(config, name)


# Options that say how to start a server, not whether to use the harness: a machine may set them for
# every project (a shared cluster cache, say) without changing any suite that does not use the harness.
MACHINE_OPTIONS = frozenset({"pg_source", "pg_bin_dir", "pg_cluster", "pg_workdir"})


def is_configured(settings: Settings) -> bool:
    """Did the project or the user set any option of the harness?

    An unconfigured harness is inert: no server before a test asks for one, no variables, no
    classification markers, no blocking, pytest-asyncio's loop settings untouched; a suite that
    uses none of its fixtures runs exactly as with ``-p no:async_test``. An emptied variable
    (``ASYNC_TEST_METADATA=``, "unset here") sets nothing, so it does not wake the harness either.
    """
    return any(source != "default" and not source.endswith(UNSET_SUFFIX)
               for name, source in settings.sources.items() if name not in MACHINE_OPTIONS)


def starts_before_collection(settings: Settings) -> bool:
    """Start the server and export its variables before the first conftest is imported?

    Whenever the harness is configured (the integration pass of ``async-test run`` is: it sets
    the kind), except for the unit selection, which gets a blocked address instead.
    """
    return is_configured(settings) and settings.kind != UNIT


# The provision, handed from an xdist controller to its workers through the environment: a worker needs
# its database before it imports the project's conftests, which is before xdist gives it its
# workerinput. Popped by the worker, so the tests never see the admin password in it.
PROVISION_ENV_VAR = "_ASYNC_TEST_XDIST_PROVISION"


# --------------------------------------------------------------------------- lifecycle


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Start the database and export its variables before pytest imports the first conftest.

    Root conftests import settings modules and apps that read ``DATABASE_URL`` and friends at
    import, before ``pytest_configure`` (pytest-django sets its settings here for the same
    reason). Not ``tryfirst``: pytest-env sets the project's variables in a ``tryfirst``
    implementation of this hook, and they may configure the harness; pytest imports the
    conftests in its ``trylast`` one.
    """
    _set_up(early_config)


def _set_up(config: pytest.Config) -> None:
    if STATE_KEY in config.stash:
        return
    try:
        settings = _read_settings(config)
    except SettingsError as exc:
        events.write_event(os.environ.get(events.ENV_VAR), {"type": "usage_error", "message": str(exc)})
        raise pytest.UsageError(f"async-test: {exc}") from None
    state = PluginState(settings=settings, rootdir=Path(str(config.rootpath)), configured=is_configured(settings))
    config.stash[STATE_KEY] = state
    config.add_cleanup(lambda: _tear_down(config))  # also when a conftest fails to import
    if not config.pluginmanager.has_plugin(_LoopScopeFirst.NAME):
        config.pluginmanager.register(_LoopScopeFirst(), _LoopScopeFirst.NAME)
    if settings.kind == UNIT:
        state.blocked = blocked_address(settings)
        state.export_for(state.blocked)
        return
    try:
        state.owned_server = take_owned_server()  # async-test run's server, for this process only
    except PostgresError as exc:
        raise pytest.UsageError(f"async-test: {exc}") from None
    handed = os.environ.pop(PROVISION_ENV_VAR, None)
    if handed and os.environ.get("PYTEST_XDIST_WORKER"):
        state.worker = os.environ["PYTEST_XDIST_WORKER"]
        _attach_or_fail(state, Provision.from_json(handed))
        return
    namespace = getattr(config, "known_args_namespace", None) or config.option
    if getattr(namespace, "help", False) or getattr(namespace, "version", False):
        return  # pytest --help / --version: nothing to test, nothing to start
    if starts_before_collection(settings):
        try:
            state.start()
        except (PostgresError, SchemaError) as exc:
            _start_failed(state, exc)
        if _is_xdist_controller(config) and state.provision is not None:
            os.environ[PROVISION_ENV_VAR] = state.provision.to_json()  # the workers it spawns inherit it


def _apply_loop_scope(config: pytest.Config, state: PluginState) -> None:
    state.loop_scope = (
        event_loops.apply_default(config, state.settings.loop_scope) if state.configured
        else "left to the project (async-test is not configured for this project)"
    )


class _LoopScopeFirst:
    """The session-loop default set before pytest-asyncio's own ``pytest_configure``, which warns
    that ``asyncio_default_fixture_loop_scope`` is unset when it reads it: every run printed that
    warning about an option the harness then set (and the header showed set)."""

    NAME = "async_test_loop_scope_first"

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        state = config.stash.get(STATE_KEY, None)
        if state is not None and not state.loop_scope:
            _apply_loop_scope(config, state)


@pytest.hookimpl(tryfirst=True)
class SplitJunitLine:
    """pytest's ``generated xml file: .../junit-all.xml`` pointed at a file the runner splits into
    ``junit-unit.xml`` and ``junit-integration.xml`` and removes when the session ends: the line names
    those two instead (only in the runner's one session, recognised by its file name and events file)."""

    def __init__(self, xmlpath: str) -> None:
        self.xmlpath = xmlpath

    @pytest.hookimpl(hookwrapper=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Any:
        write_sep = terminalreporter.write_sep
        folder = os.path.dirname(self.xmlpath)

        def without_the_gone_file(sep: str, title: str = "", **markup: Any) -> None:
            if title.startswith("generated xml file:") and title.rstrip().endswith("junit-all.xml"):
                title = (f"generated xml files: {os.path.join(folder, 'junit-unit.xml')} and junit-integration.xml "
                         "(split by test kind when the run ends)")
            write_sep(sep, title, **markup)

        terminalreporter.write_sep = without_the_gone_file
        try:
            yield
        finally:
            terminalreporter.write_sep = write_sep


def pytest_configure(config: pytest.Config) -> None:
    xmlpath = str(getattr(config.option, "xmlpath", None) or "")
    if os.path.basename(xmlpath) == "junit-all.xml" and os.environ.get(events.ENV_VAR):
        config.pluginmanager.register(SplitJunitLine(xmlpath), "async-test-split-junit-line")
    config.addinivalue_line(
        "markers",
        "unit: a unit test; runs in the unit pass with the database blocked.",
    )
    config.addinivalue_line(
        "markers",
        "integration(isolation='transaction'): an integration test; runs in the integration pass with a real "
        "database. isolation='database' gives the test a database of its own, cloned from the template (real commits, "
        "several connections).",
    )
    events.register(config)
    shard.register(config)  # before anything else selects: a test's shard never depends on the pass
    selection.register(config)  # which tests the session kept, for the runner (no test lost silently)
    affected.register(config)  # --affected: the tests the runner selected (affected.py)
    _set_up(config)  # when the plugin was registered after the initial conftests (e.g. pytest_plugins)
    state = config.stash[STATE_KEY]
    settings = state.settings
    if not state.loop_scope:  # normally set already, before pytest-asyncio's configure (_LoopScopeFirst)
        _apply_loop_scope(config, state)
    config.pluginmanager.register(event_loops, "async_test_event_loops")
    config.pluginmanager.register(current_test, "async_test_current_test")
    state.timeout = timeout.register(config, settings.timeout)
    # issue 25: a failed test runs once more (flaky), in `async-test run` only (it sets the events file):
    # plain pytest, with the harness merely installed or configured, reports every failure as it is.
    rerun.register(config, settings.rerun_failures and bool(os.environ.get(events.ENV_VAR)))
    if settings.kind == UNIT:
        return
    config.pluginmanager.register(_SendAheadHooks(), "async_test_send_ahead")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and state.provision is None and workerinput.get(WORKER_INPUT_KEY):
        # A worker started without the controller's environment (a remote --tx): attached later.
        state.worker = str(workerinput.get("workerid", "main"))
        _attach_or_fail(state, Provision.from_json(workerinput[WORKER_INPUT_KEY]))
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "async_test_xdist")


def _tear_down(config: pytest.Config) -> None:
    blocker.uninstall()
    relay.close()  # before the state drops this process's database
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.close()


def _start_failed(state: PluginState, exc: Exception) -> NoReturn:
    events.write_event(os.environ.get(events.ENV_VAR), {
        "type": "infrastructure_error",
        "phase": "schema" if isinstance(exc, SchemaError) else "database",
        "message": state.mask(str(exc)),
    })
    raise pytest.UsageError(f"{START_FAILED}\n{state.mask(str(exc))}") from None


def _attach_or_fail(state: PluginState, provision: Provision) -> None:
    try:
        state.attach(provision)
    except Exception as exc:
        raise pytest.UsageError(
            f"async-test: could not create this worker's database: {state.mask(str(exc))}"
        ) from None


class _XdistHooks:
    """Hand the controller's server and template to each worker (workerinput: the fallback for
    workers that do not inherit the controller's environment)."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        state = node.config.stash.get(STATE_KEY, None)
        if state is not None and state.provision is not None:
            node.workerinput[WORKER_INPUT_KEY] = state.provision.to_json()


def _is_xdist_controller(config: pytest.Config) -> bool:
    namespace = getattr(config, "known_args_namespace", None) or config.option
    return not hasattr(config, "workerinput") and bool(getattr(namespace, "numprocesses", None))


HARNESS_FIXTURES = ("async_db_session", "async_engine", "async_test_database", "db_url", "db_sync_url", "mock_db",
                    "patch_boundary", "api_client")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _yield_fixture_names_to_other_plugins(session)
    interrupts.session_started()  # Ctrl-C while pytest started: see interrupts.py


def _yield_fixture_names_to_other_plugins(session: pytest.Session) -> None:
    """Another installed plugin's fixture of the same name as ours (a library's own ``db_url``) wins.

    Among plugins, pytest lets the last one registered win a name, and entry points load in no
    defined order, so a library's plugin loaded before ours lost its fixture to ours. Its fixtures
    that clash are registered once more, after ours (conftest fixtures win anyway: they are
    registered later, at collection).
    """
    import types

    for name, plugin in session.config.pluginmanager.list_name_plugin():
        if plugin is None or plugin is _THIS_MODULE or (name or "").endswith("conftest.py"):
            continue
        clashing = {
            attr: getattr(plugin, attr, None) for attr in HARNESS_FIXTURES
            if compat.is_fixture_function(getattr(plugin, attr, None))
        }
        if not clashing:
            continue
        holder = types.ModuleType(f"async_test_yields_to_{name}")
        for attr, fixture in clashing.items():
            setattr(holder, attr, fixture)
        if not compat.register_fixtures_after(session, holder):
            return


LEAK_WARNING = (
    "{n} connection(s) to the test database were still open inside a transaction when the tests ended: "
    "a test or fixture did not close a session or connection, or a module opened one at import. Such a "
    "transaction holds its locks and can make later tests hang; close sessions in teardown (async with / "
    "await session.close()), and open connections in fixtures rather than at import."
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _report_degradations(session.config)
    state = session.config.stash.get(STATE_KEY, None)
    if state is None or state.address is None or _is_xdist_controller(session.config):
        return  # workers check their own databases
    try:
        address = state.address
        count = run_sync(lambda: open_transactions(address))
    except Exception:
        return  # the server is gone; the runner reports that
    if count:
        message = LEAK_WARNING.format(n=count)
        state.warnings.append(message)
        events.write_event(os.environ.get(events.ENV_VAR), {"type": "warning", "message": message})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    state = terminalreporter.config.stash.get(STATE_KEY, None)
    for message in getattr(state, "warnings", []) + compat.degradations():
        terminalreporter.write_line(f"async-test: warning: {message}", yellow=True)


def _report_degradations(config: pytest.Config) -> None:
    """Workarounds that are off because a library changed (``compat.py``): to the runner's events, and
    from an xdist worker to its controller, whose terminal summary prints them."""
    notes = compat.degradations(own=True)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[COMPAT_OUTPUT_KEY] = notes
    for message in notes:
        events.write_event(os.environ.get(events.ENV_VAR), {"type": "warning", "message": message})


COMPAT_OUTPUT_KEY = "async_test_compat_degradations"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    compat.add_degradations(getattr(node, "workeroutput", {}).get(COMPAT_OUTPUT_KEY, ()))


def pytest_unconfigure(config: pytest.Config) -> None:
    _tear_down(config)


# --------------------------------------------------------------------------- reporting


def pytest_report_header(config: pytest.Config) -> List[str]:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return []
    s = state.settings
    lines = []
    if state.blocked is not None:
        lines.append("async-test: kind=unit: no database started; database connections are blocked")
    elif state.provision is not None and state.address is not None:
        provision = state.provision
        ready = f", ready in {provision.ready_seconds:.2f}s" if provision.owns_server else ""
        lines.append(f"async-test: PostgreSQL {provision.version} ({provision.source}{ready})")
        lines.append(f"async-test: database {state.address.masked}")
        note = trust_note(s.pg_auth, state.address.port) if provision.owns_server else None
        if note:  # why a password-less URL is refused here, or that every local account can connect
            lines.append(f"async-test: {note}")
        lines.append(f"async-test: schema: {provision.schema}")
    elif not state.configured:
        return ["async-test: not configured for this project: inert until a test uses one of its database "
                "fixtures (then PostgreSQL starts); nothing is classified or blocked"]
    else:
        lines.append("async-test: PostgreSQL starts on first use of a database fixture")
    lines.append(f"async-test: loop scope: {state.loop_scope}")
    lines.append(
        f"async-test: kind={s.kind}; unit paths {', '.join(s.unit_paths) or '-'}; "
        f"integration paths {', '.join(s.integration_paths) or '-'}; block_db={str(s.block_db).lower()}"
    )
    if state.timeout:
        lines.append(f"async-test: {state.timeout}")
    settings_lines = s.describe()
    if settings_lines:
        lines.append("async-test: settings: " + "; ".join(settings_lines))
    return [state.mask(line) for line in lines]


def pytest_report_collectionfinish(config: pytest.Config, items: List[pytest.Item]) -> List[str]:
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.configured:
        return []
    counts = {UNIT: 0, INTEGRATION: 0}
    lines = []
    for item in items:
        found = item.stash.get(CLASSIFICATION_KEY, None)
        if found is None:
            continue
        counts[found.kind] += 1
        if config.option.verbose > 0 and config.option.collectonly:
            lines.append(f"async-test: {found.kind:<11} {item.nodeid}  ({found.reason})")
    lines.append(f"async-test: {counts[UNIT]} unit, {counts[INTEGRATION]} integration")
    return lines


# --------------------------------------------------------------------------- collection


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: List[pytest.Item]) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.configured:
        return  # inert: no markers, no junit properties, no blocking
    s = state.settings
    keep: List[pytest.Item] = []
    dropped: List[pytest.Item] = []
    for item in items:
        found = classify_mod.classify(item, state.rootdir, s.unit_paths, s.integration_paths, s.db_fixtures)
        item.stash[CLASSIFICATION_KEY] = found
        if item.get_closest_marker(found.kind) is None:
            item.add_marker(found.kind)
        item.user_properties.append(("async_test_kind", found.kind))
        (keep if s.kind in ("all", found.kind) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    if coverage_contexts.requested():
        coverage_contexts.register(config)
    units = [item for item in keep if item.stash[CLASSIFICATION_KEY].kind == UNIT]
    if units and s.block_db and s.kind == "all" and early_connections.in_runner_session():
        address = early_connections.open_to_database(_blocker_for(config, state).is_db_address)
        if address is not None:  # the unit tests get a process of their own (early_connections.py)
            early_connections.defer_unit_tests(config, items, units, address)
            units = []
    needs_blocking = s.block_db and bool(units)
    if needs_blocking and not config.pluginmanager.has_plugin(BLOCKING_PLUGIN):
        config.pluginmanager.register(_BlockingHooks(), BLOCKING_PLUGIN)
    if needs_blocking or coverage_contexts.requested():
        fixture_kinds.register(config, items)  # a broad fixture's teardown under the kind of its set-up


# --------------------------------------------------------------------------- blocking


_BLOCKER_KEY = pytest.StashKey[Tuple[Tuple[Any, ...], Blocker]]()


def _blocker_for(config: pytest.Config, state: PluginState) -> Blocker:
    """The blocker for the run's addresses, made again only when they change (a lazy start)."""
    key = (state.blocked, state.address, state.provision)
    cached = config.stash.get(_BLOCKER_KEY, None)
    if cached is not None and cached[0] == key:
        return cached[1]
    ports = set()
    socket_dirs = set()
    for address in (state.blocked, state.address):
        if address is not None:
            ports.add(address.port)
    if state.provision is not None:
        ports.add(state.provision.admin.port)
        socket_dirs.add(state.provision.socket_dir)
    blocker = Blocker(ports, socket_dirs)
    config.stash[_BLOCKER_KEY] = (key, blocker)
    return blocker


def _guard(item: pytest.Item) -> Optional[Any]:
    state = item.config.stash.get(STATE_KEY, None)
    found = item.stash.get(CLASSIFICATION_KEY, None)
    if state is None or found is None or found.kind != UNIT or not state.settings.block_db:
        return None
    return _blocker_for(item.config, state).blocking(item.nodeid, found.reason)


def _blocking(item: pytest.Item) -> Generator[None, None, None]:
    guard = _guard(item)
    if guard is None:
        yield
        return
    with guard:
        yield


class _SendAheadHooks:
    """Forwards the end of each test and of the run to isolation.py, which owns the send-ahead:
    the last test sends nothing ahead, and every reply sent ahead is read before pytest tears down
    the session-scoped event loop (after the run's last test, or when a run stops early, -x)."""

    @pytest.hookimpl(tryfirst=True)  # before the test's fixtures are torn down
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
        isolation.test_ending(nextitem is None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        isolation.settle()


class _BlockingHooks:
    """Registered only when a unit test is to run with the database blocked: an integration-only
    run then pays nothing. One wrapper around the whole test (set-up, call, teardown and their
    reports), not one per phase: three were a noticeable part of a trivial unit test."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        yield from _blocking(item)


BLOCKING_PLUGIN = "async_test_blocking"
_THIS_MODULE = sys.modules[__name__]
