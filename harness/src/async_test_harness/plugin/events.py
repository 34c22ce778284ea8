"""What happened in a pytest pass, as JSON lines the runner turns into summary.json.

Recorded from pytest's own reports (not parsed back out of JUnit XML) so a
failure keeps its real location: the deepest traceback entry inside the
project, 1-based, with the message and the captured output.  Active only when
``ASYNC_TEST_EVENTS`` names a file (the runner sets it); under xdist only the
controller writes, since worker reports reach it.

Test output can hold the database's password (a test prints ``DATABASE_URL``; a
parameter makes it part of a test id). Every event is masked before it is
written, and ``OutputMasker`` masks what pytest itself wrote in this process:
the JUnit XML and the cache (the last failures' ids), once pytest has written them.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence

import pytest

from .. import compat, versions
from ..masking import mask_data, mask_text
from ..server.address import parse_url
from .queries import PROPERTY as STATEMENTS

ENV_VAR = "ASYNC_TEST_EVENTS"
MAX_MESSAGE = 2000
MAX_TRACEBACK = 8000
MAX_OUTPUT = 4000


# The recorder keeps its file open while pytest runs: opening it for each of the three reports of
# every test cost more than a trivial test. Each test's line is flushed once written (one write, a
# few microseconds), so a process that dies (os._exit, a crash) still leaves every result before it
# on disk, and the runner names exactly the tests that did not report.
_open: Dict[str, IO[str]] = {}


def write_event(path: Optional[str], event: Dict[str, Any], flush: bool = True, secrets: Sequence[str] = ()) -> None:
    """Append one event, its strings masked (the secrets, and any URL's password) before JSON escapes them."""
    if not path:
        return
    line = json.dumps(mask_data(event, secrets), default=str) + "\n"
    handle = _open.get(path)
    if handle is None:
        with open(path, "a", encoding="utf-8") as once:
            once.write(line)
        return
    handle.write(line)
    if flush:
        handle.flush()


class ConftestErrors:
    """Records a conftest that fails to import, at its line, so the report can annotate it there.

    pytest stops before collection then (exit 4, a traceback on stderr, no report hook runs), so
    without this the pass had no location to show. Registered when the plugin's options are
    added, which is before pytest imports the initial conftests.
    """

    @pytest.hookimpl(hookwrapper=True)
    def pytest_load_initial_conftests(self, early_config: pytest.Config) -> Any:
        outcome = yield
        exc = outcome.excinfo[1] if outcome.excinfo else None
        if exc is None or type(exc).__name__ != "ConftestImportFailure":
            return
        path = str(getattr(exc, "path", "") or "")
        cause = getattr(exc, "cause", None)
        if cause is None and getattr(exc, "excinfo", None):  # pytest < 8
            cause = exc.excinfo[1]
        root = Path(str(early_config.rootpath))
        hint = _sync_url_hint(early_config, cause)
        if hint:
            sys.stderr.write(f"async-test: hint: {hint}\n")
        message = f"could not import this conftest: {type(cause).__name__}: {cause}" + (f". {hint}" if hint else "")
        write_event(os.environ.get(ENV_VAR), {
            "type": "collect_error",
            "nodeid": _relative(path, root) if path else "conftest.py",
            "file": _relative(path, root) if path else "conftest.py",
            "line": _line_in(path, cause),
            "message": _tail(message, MAX_MESSAGE),
            "traceback": _tail(str(exc), MAX_TRACEBACK),
        })


SYNC_DRIVERS = ("psycopg2", "psycopg")


def _sync_url_hint(config: pytest.Config, cause: Any) -> Optional[str]:
    """The most common first failure of an async app under the harness, explained.

    ``DATABASE_URL`` is exported in the libpq form (``postgresql://``), which sync drivers and
    most tools take; an app that builds ``create_async_engine(DATABASE_URL)`` at import then
    needs psycopg2 (SQLAlchemy 2.0's default driver) or finds it is not async, and the conftest
    fails with no word about the variable.
    """
    from .state import STATE_KEY  # not at import: state imports the server code

    state = config.stash.get(STATE_KEY, None)
    exported = state.exported.get("DATABASE_URL", "") if state is not None else ""
    if not exported.startswith("postgresql://") or os.environ.get("DATABASE_URL") != exported:
        return None
    missing = isinstance(cause, ModuleNotFoundError) and cause.name in SYNC_DRIVERS
    not_async = type(cause).__name__ == "InvalidRequestError" and "is not async" in str(cause)
    if not (missing or not_async):
        return None
    return ("DATABASE_URL is set by async-test in the libpq form (postgresql://...), for sync drivers and "
            "tools; an app that builds an async engine from it needs the asyncpg form. Set "
            "async_test_env = DATABASE_URL={async_url} (ini, or ASYNC_TEST_ENV='DATABASE_URL={async_url}'); "
            "see docs/shapes.md")


MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def missing_module_hint(text: str) -> Optional[str]:
    """What to set when a test module or conftest imports a package the test environment lacks.

    The usual cause under the image is an extra or a dependency group the project's CI installs
    (``uv sync --all-extras``, ``poetry install -E postgresql``) and the automatic install did not.
    """
    found = MISSING_MODULE.search(text)
    if not found:
        return None
    name = found.group(1).split(".")[0]
    return (f"ASYNC_TEST_EXTRAS=all / ASYNC_TEST_GROUPS=all (the action's extras, groups inputs) if the "
            f"project's CI installs '{name}' through extras or dependency groups; else ASYNC_TEST_INSTALL_AFTER="
            f"'uv pip install {name}' (install-after), or install it in your environment outside the image. "
            "See docs/container.md")


def _with_hint(message: str, longrepr: str) -> str:
    hint = missing_module_hint(message) or missing_module_hint(longrepr)
    return _tail(f"{message}. hint: {hint}" if hint else message, MAX_MESSAGE + (len(hint) if hint else 0))


def _line_in(path: str, cause: Any) -> int:
    """The failing line of the conftest: a SyntaxError's own, else the deepest frame in that file."""
    target = os.path.abspath(path)
    if isinstance(cause, SyntaxError) and cause.filename and os.path.abspath(cause.filename) == target:
        return int(cause.lineno or 1)
    line = 1
    tb = getattr(cause, "__traceback__", None)
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _inside(path: str, root: Path) -> bool:
    """A project file: under the root, not an installed package, and a real file. Code generated
    at run time (SQLAlchemy's ``<string>`` frames) resolves under the root too; a failure located
    there was annotated in pull requests at ``<string>:2``, a file that does not exist."""
    try:
        resolved = (root / path).resolve() if not os.path.isabs(path) else Path(path).resolve()
        resolved.relative_to(root)
    except (ValueError, OSError):
        return False
    return "site-packages" not in resolved.parts and ".venv" not in resolved.parts and resolved.is_file()


def failure_location(report: pytest.TestReport, root: Path) -> tuple[str, int]:
    """The deepest traceback entry inside the project; else the test's own line (both 1-based)."""
    longrepr = report.longrepr
    entries: List[Any] = []
    chain = getattr(longrepr, "chain", None)
    if chain:
        for traceback, _crash, _descr in chain:
            entries.extend(getattr(traceback, "reprentries", []))
    else:
        entries.extend(getattr(getattr(longrepr, "reprtraceback", None), "reprentries", []))
    for entry in reversed(entries):
        loc = getattr(entry, "reprfileloc", None)
        if loc is not None and _inside(loc.path, root):
            return _relative(loc.path, root), int(loc.lineno)
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and _inside(crash.path, root):
        return _relative(crash.path, root), int(crash.lineno)
    path, lineno, _ = report.location
    return _relative(path, root), int(lineno or 0) + 1


def _relative(path: str, root: Path) -> str:
    absolute = Path(path) if os.path.isabs(path) else root / path
    try:
        return absolute.resolve().relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _property(report: Any, name: str) -> Any:
    """One user property of a report (a list of pairs; lists once they crossed from an xdist worker)."""
    for key, value in report.user_properties:
        if key == name:
            return value
    return None


def _message(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return _tail(str(crash.message), MAX_MESSAGE)
    if isinstance(report.longrepr, tuple):  # skip reasons: (path, line, message)
        return _tail(str(report.longrepr[-1]), MAX_MESSAGE)
    text = str(report.longrepr or "").strip().splitlines()
    return _tail(text[-1] if text else "", MAX_MESSAGE)


@functools.lru_cache(maxsize=8)
def _password(url: str) -> str:
    try:
        return parse_url(url).password
    except ValueError:
        return ""


def secrets_of(config: pytest.Config) -> List[str]:
    """The passwords this process knows: database_url's (it outlives the run) and the run's admin one."""
    from .state import STATE_KEY  # not at import: state imports the server code, events is imported first

    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return []
    found = list(state.secrets)
    if state.settings.database_url:
        found.append(_password(state.settings.database_url))
    return [s for s in dict.fromkeys(found) if s]


def mask_junit(path: Path, secrets: Sequence[str]) -> None:
    """Mask every text and attribute of a JUnit XML file (read back, so XML escapes are undone first)."""
    data = path.read_bytes()
    try:
        root = ET.fromstring(data)
    except ET.ParseError:  # not XML after all: mask the text and its XML-escaped forms
        forms = [*secrets, *(html.escape(s, quote=q) for s in secrets for q in (True, False))]
        path.write_bytes(mask_text(data.decode("utf-8", "surrogateescape"), forms).encode("utf-8", "surrogateescape"))
        return
    changed = False
    for element in root.iter():
        for part in ("text", "tail"):
            value = getattr(element, part)
            if value and mask_text(value, secrets) != value:
                setattr(element, part, mask_text(value, secrets))
                changed = True
        attrib = {mask_text(k, secrets): mask_text(v, secrets) for k, v in element.attrib.items()}
        if attrib != element.attrib:
            element.attrib = attrib
            changed = True
    if changed:  # else pytest's file stays as pytest wrote it
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def mask_json_file(path: Path, secrets: Sequence[str]) -> None:
    """Mask a JSON file of pytest's cache, as pytest writes them; other files as text."""
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    try:
        masked = json.dumps(mask_data(json.loads(text), secrets), ensure_ascii=False, indent=2, sort_keys=True)
    except ValueError:
        masked = mask_text(text, secrets)
    if masked != text:
        path.write_bytes(masked.encode("utf-8", "surrogateescape"))


class OutputMasker:
    """Masks the files pytest wrote in this process, after it wrote them (trylast: after junitxml's and
    the cache's own sessionfinish). Does nothing in a process that knows no password."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        secrets = secrets_of(self.config)
        if not secrets:
            return
        xmlpath = getattr(self.config.option, "xmlpath", None)
        if xmlpath:
            junit = Path(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath))))
            if junit.is_file():
                mask_junit(junit, secrets)
        cachedir = compat.cache_dir(self.config)
        if cachedir is not None and (Path(cachedir) / "v").is_dir():
            for path in (Path(cachedir) / "v").rglob("*"):
                if path.is_file() and not path.is_symlink():
                    mask_json_file(path, secrets)


class EventRecorder:
    def __init__(self, path: str, root: Path, config: Optional[pytest.Config] = None) -> None:
        self.path = path
        self.root = root.resolve()
        self.config = config
        self.started = time.monotonic()
        self.deselected = 0
        self._pending: Dict[str, Dict[str, Any]] = {}

    def pytest_deselected(self, items: Any) -> None:
        self.deselected += len(items)

    def _emit(self, event: Dict[str, Any], flush: bool = True) -> None:
        write_event(self.path, event, flush, secrets_of(self.config) if self.config is not None else ())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._emit({
                "type": "collect_error",
                "nodeid": report.nodeid,
                "file": _relative(str(report.fspath), self.root) if report.fspath else report.nodeid,
                "message": _with_hint(_message(report) or "collection failed", str(report.longrepr)),
                "traceback": _tail(str(report.longrepr), MAX_TRACEBACK),
            })

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A passing test is one line, written at its teardown with the three phases' durations;
        # anything else is written as it happens (failures flushed at once).
        if report.passed:
            pending = self._pending.setdefault(report.nodeid, {"duration": 0.0, "call": None})
            pending["duration"] += report.duration
            if report.when == "call":
                pending["call"] = report
            elif report.when == "teardown" and pending["call"] is None:
                pending.update(nodeid=report.nodeid, teardown=report)
            if report.when != "teardown":
                return
            self._write_passed(self._pending.pop(report.nodeid), _property(report, STATEMENTS))
            return
        if report.when == "teardown":
            if report.nodeid in self._pending:
                self._write_passed(self._pending.pop(report.nodeid))
        self._write(report, report.duration)

    def _write_passed(self, pending: Dict[str, Any], statements: Any = None) -> None:
        call = pending["call"]
        if call is not None:
            self._write(call, pending["duration"], statements)
        elif statements:  # the test failed or was skipped before its teardown, which counted them
            self._emit({"type": "statements", "nodeid": pending["nodeid"],
                        "kind": _property(pending["teardown"], "async_test_kind"), "statements": statements})

    def _write(self, report: pytest.TestReport, duration: float, statements: Any = None) -> None:
        properties = dict(report.user_properties)
        kind = properties.get("async_test_kind")
        statements = statements or properties.get(STATEMENTS)
        event: Dict[str, Any] = {
            "type": "test",
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "duration": round(duration, 6),
            "kind": kind,
            "wasxfail": hasattr(report, "wasxfail"),
        }
        if report.failed:
            file, line = failure_location(report, self.root)
            output = "\n".join(
                f"--- {name} ---\n{content}" for name, content in report.sections if content.strip()
            )
            event.update({
                "file": file,
                "line": line,
                "message": _message(report),
                "traceback": _tail(str(report.longrepr), MAX_TRACEBACK),
                "output": _tail(output, MAX_OUTPUT),
            })
        elif report.skipped:
            event["message"] = _message(report)
        if statements:
            event["statements"] = statements
        if properties.get("async_test_flaky"):  # failed, then passed on its re-run (rerun.py)
            event["flaky"] = properties["async_test_flaky"]
        self._emit(event)  # flushed: a process that dies next (os._exit) still leaves this test's result

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for pending in self._pending.values():  # a run stopped between a test's call and teardown
            self._write_passed(pending)
        self._pending.clear()
        self._emit({
            "type": "session",
            "exitstatus": int(exitstatus),
            "collected": session.testscollected,
            "deselected": self.deselected,
            # -x/--maxfail or --stepwise stopped it: the tests after that did not run, as asked
            "stopped": _stopped_on_request(session),
            "duration": round(time.monotonic() - self.started, 4),
        })
        self._emit({"type": "environment", "versions": versions.installed()})  # the runner's summary

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        handle = _open.pop(self.path, None)
        if handle is not None:
            handle.close()


def _stopped_on_request(session: pytest.Session) -> Optional[str]:
    """Why pytest stopped before the last test, when the user asked it to (-x, --maxfail, --stepwise)."""
    dsession = session.config.pluginmanager.get_plugin("dsession")  # xdist's controller stops on its own
    for reason in (session.shouldfail, session.shouldstop, getattr(dsession, "shouldstop", None)):
        if reason and "keyboard-interrupt" not in str(reason):
            return str(reason)
    return None


def register(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # xdist: the controller writes the events, the JUnit file and the cache
    config.pluginmanager.register(OutputMasker(config), "async_test_output_masker")
    path = os.environ.get(ENV_VAR)
    if not path:
        return
    _open[path] = open(path, "a", encoding="utf-8")
    config.pluginmanager.register(EventRecorder(path, Path(str(config.rootpath)), config), "async_test_events")
