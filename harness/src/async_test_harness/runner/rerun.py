"""The tests of one kind a session ended before, run again in a process of their own, and merged.

When the one session (session.py) ends early (a test calls ``pytest.exit()`` or ``os._exit()``, or
the process crashes), the test that was running is of one kind; the tests of the OTHER kind that did
not report get a process of their own, as two processes never let a crash in one pass cost the other
pass's results (pass_processes.py ``_one_session`` decides which kind). Some tests of that kind may
have reported before the session ended: their results (JUnit cases, coverage, counts) are set aside,
then merged with the new process's, so the pass reports each selected test once.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Tuple

from .results import PassResult
from .session import recount

SESSION_JUNIT = "junit-{kind}.session.xml"
SESSION_COVERAGE = ".coverage.{kind}.session"


def _names(kind: str) -> Tuple[Tuple[str, str], Tuple[str, str]]:
    return ((f"junit-{kind}.xml", SESSION_JUNIT.format(kind=kind)),
            (f".coverage.{kind}", SESSION_COVERAGE.format(kind=kind)))


def set_aside(results: Path, reported: PassResult) -> PassResult:
    """Keep the session's results of ``reported.kind`` out of the new process's way; returns them."""
    for name, aside in _names(reported.kind):
        if (results / name).exists():
            os.replace(results / name, results / aside)
    return reported


def discard(results: Path, kind: str) -> None:
    """The session's results of ``kind``, which the new process replaces whole (a session that died)."""
    for name, _ in _names(kind):
        (results / name).unlink(missing_ok=True)


def merge(results: Path, reported: PassResult, again: PassResult) -> PassResult:
    """The new process's pass with the session's reported tests of the same kind added back."""
    (junit, junit_aside), (data, data_aside) = _names(reported.kind)
    _merge_junit(results / junit_aside, results / junit)
    _merge_coverage(results / data_aside, results / data)
    again.deselected = reported.deselected
    if not reported.reported:
        return again
    for key, value in reported.counts.items():
        again.counts[key] += value
    again.failures = reported.failures + again.failures
    again.reported |= reported.reported
    again.durations = {**reported.durations, **again.durations}
    again.test_seconds += reported.test_seconds
    again.duration_seconds += reported.duration_seconds
    again.warnings += [w for w in reported.warnings if w not in again.warnings]
    if again.status in ("passed", "empty") and reported.failures:
        again.status, again.exit_code = "failed", 1
    elif again.status == "empty":
        again.status = "passed" if reported.counts["total"] else again.status
    return again


def _merge_file(aside: Path, target: Path, combine: Callable[[Path, Path], None]) -> None:
    """``aside`` (the session's) into ``target`` (the new process's): moved when the new process wrote
    none, else ``combine``d; removed either way. A file that cannot be read leaves ``target`` as it is:
    the summary still counts every test."""
    if not aside.exists():
        return
    try:
        if not target.exists():
            os.replace(aside, target)
            return
        combine(aside, target)
    except Exception:
        pass  # a broken JUnit file, coverage.py's own error: the new process's file stays
    finally:
        aside.unlink(missing_ok=True)


def _merge_junit(aside: Path, target: Path) -> None:
    """The session's test cases of the kind into the new process's JUnit file (one suite each)."""
    _merge_file(aside, target, _add_suites)


def _add_suites(aside: Path, target: Path) -> None:
    tree = ET.parse(target)
    root = tree.getroot()
    old = ET.parse(aside).getroot()
    suites = [old] if old.tag == "testsuite" else list(old.iter("testsuite"))
    if root.tag == "testsuite":
        wrapper = ET.Element("testsuites")
        wrapper.append(root)
        root = wrapper
    for suite in suites:
        if any(c.tag == "testcase" for c in suite):
            recount(suite)
            root.append(suite)
    ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)


def _merge_coverage(aside: Path, target: Path) -> None:
    _merge_file(aside, target, _add_coverage)


def _add_coverage(aside: Path, target: Path) -> None:
    from coverage import CoverageData

    merged = CoverageData(basename=str(target))
    merged.read()
    old = CoverageData(basename=str(aside))
    old.read()
    merged.update(old)
    merged.write()
