"""What happened in a pytest pass, as JSON lines the runner turns into summary.json.

Recorded from pytest's own reports (not parsed back out of JUnit XML) so a
failure keeps its real location: the deepest traceback entry inside the
project, 1-based, with the message and the captured output.  Active only when
``ASYNC_TEST_EVENTS`` names a file (the runner sets it); under xdist only the
controller writes, since worker reports reach it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional

import pytest

ENV_VAR = "ASYNC_TEST_EVENTS"
MAX_MESSAGE = 2000
MAX_TRACEBACK = 8000
MAX_OUTPUT = 4000


# The recorder keeps its file open while pytest runs: opening it for each of the three reports of
# every test cost more than a trivial test. Failures and the end of the session are flushed at
# once, so a run that dies still leaves every failure on disk.
_open: Dict[str, IO[str]] = {}


def write_event(path: Optional[str], event: Dict[str, Any], flush: bool = True) -> None:
    if not path:
        return
    line = json.dumps(event, default=str) + "\n"
    handle = _open.get(path)
    if handle is None:
        with open(path, "a", encoding="utf-8") as once:
            once.write(line)
        return
    handle.write(line)
    if flush:
        handle.flush()


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _inside(path: str, root: Path) -> bool:
    try:
        resolved = (root / path).resolve() if not os.path.isabs(path) else Path(path).resolve()
        resolved.relative_to(root)
    except (ValueError, OSError):
        return False
    return "site-packages" not in resolved.parts and ".venv" not in resolved.parts


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


def _message(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return _tail(str(crash.message), MAX_MESSAGE)
    if isinstance(report.longrepr, tuple):  # skip reasons: (path, line, message)
        return _tail(str(report.longrepr[-1]), MAX_MESSAGE)
    text = str(report.longrepr or "").strip().splitlines()
    return _tail(text[-1] if text else "", MAX_MESSAGE)


class EventRecorder:
    def __init__(self, path: str, root: Path) -> None:
        self.path = path
        self.root = root.resolve()
        self.started = time.monotonic()
        self.deselected = 0
        self._pending: Dict[str, Dict[str, Any]] = {}

    def pytest_deselected(self, items: Any) -> None:
        self.deselected += len(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            write_event(self.path, {
                "type": "collect_error",
                "nodeid": report.nodeid,
                "file": _relative(str(report.fspath), self.root) if report.fspath else report.nodeid,
                "message": _message(report) or "collection failed",
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
            if report.when != "teardown":
                return
            self._write_passed(self._pending.pop(report.nodeid))
            return
        if report.when == "teardown":
            if report.nodeid in self._pending:
                self._write_passed(self._pending.pop(report.nodeid))
        self._write(report, report.duration)

    def _write_passed(self, pending: Dict[str, Any]) -> None:
        if pending["call"] is not None:
            self._write(pending["call"], pending["duration"])

    def _write(self, report: pytest.TestReport, duration: float) -> None:
        kind = dict(report.user_properties).get("async_test_kind")
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
        write_event(self.path, event, flush=report.failed)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for pending in self._pending.values():  # a run stopped between a test's call and teardown
            self._write_passed(pending)
        self._pending.clear()
        write_event(self.path, {
            "type": "session",
            "exitstatus": int(exitstatus),
            "collected": session.testscollected,
            "deselected": self.deselected,
            "duration": round(time.monotonic() - self.started, 4),
        })

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        handle = _open.pop(self.path, None)
        if handle is not None:
            handle.close()


def register(config: pytest.Config) -> None:
    path = os.environ.get(ENV_VAR)
    if not path or hasattr(config, "workerinput"):
        return
    _open[path] = open(path, "a", encoding="utf-8")
    config.pluginmanager.register(EventRecorder(path, Path(str(config.rootpath))), "async_test_events")
