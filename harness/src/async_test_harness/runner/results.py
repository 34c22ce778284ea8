"""summary.json: the run's results, the one input of the reporting step.

The schema is versioned (``schema_version``) and published in
``docs/summary.schema.json``; a consumer should check the major version.
The document is ``summary.model.Summary``; ``summary.md`` is the same content for people.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from ..summary.format import HEAVIEST_HEADER, HEAVIEST_TITLE, heaviest, pct, results_table
from ..summary.model import Counts, Coverage, Failure, HeavyTest, InfrastructureError, Pass, Passes, SlowTest, Summary
from .project import Project
from .results_folder import dumps, printable, write_atomically

SLOWEST = 10
HEAVIEST = 10


@dataclass(frozen=True)
class SelectedTest:
    nodeid: str
    kind: Optional[str]
    file: str
    line: int


SELECTED_FILE = "selected-{kind}.json"  # written by plugin/selection.py, read and removed by the runner
UNREPORTED_WHEN = "unreported"  # a Failure's ``when`` for a selected test that never reported


@dataclass(frozen=True)
class SelectionFile:
    """What a pytest process wrote of its selection (plugin/selection.py), read once: the tests (None when
    it wrote no whole list), whether they are in run order (not under xdist), and why the session handed
    its unit tests back to the runner (plugin/early_connections.py)."""

    tests: Optional[List[SelectedTest]] = None
    in_order: bool = False
    unit_deferred: Optional[str] = None


def read_selection(path: Path) -> SelectionFile:
    try:
        document = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return SelectionFile()
    if not isinstance(document, dict):
        return SelectionFile()
    tests: Optional[List[SelectedTest]]
    try:
        tests = [SelectedTest(str(t[0]), t[1] if t[1] in ("unit", "integration") else None, str(t[2] or ""),
                              max(1, int(t[3] or 1))) for t in document["tests"]]
    except (ValueError, KeyError, TypeError, IndexError):
        tests = None
    why = document.get("unit_deferred")
    return SelectionFile(tests, tests is not None and document.get("in_order") is True,
                         why[:500] if isinstance(why, str) and why else None)


def mark_unreported(result: PassResult, tests: List[SelectedTest], project: Project, why: str) -> None:
    """Selected tests that never reported, as failures of the pass: a test that did not report is a failure."""
    for test in tests:
        if test.nodeid in result.reported or test.nodeid in result.unreported:
            continue
        result.unreported.append(test.nodeid)
        result.counts["errors"] += 1
        result.counts["total"] += 1
        result.failures.append(Failure(
            nodeid=test.nodeid, kind=result.kind, when=UNREPORTED_WHEN, file=test.file,
            repo_path=project.repo_relative(test.file) if test.file else "", line=test.line,
            message=f"did not report: {why}", traceback="", output=""))


@dataclass
class PassResult:
    kind: str
    selected: bool = True
    status: str = "not-run"  # passed, failed, empty, error, interrupted, not-run
    exit_code: Optional[int] = None
    duration_seconds: float = 0.0
    counts: Dict[str, int] = field(default_factory=lambda: Counts().to_json())
    failures: List[Failure] = field(default_factory=list)
    slowest: List[SlowTest] = field(default_factory=list)
    heaviest: List[HeavyTest] = field(default_factory=list)
    deselected: int = 0
    infrastructure_error: Optional[InfrastructureError] = None
    usage_error: Optional[str] = None
    warnings: List[str] = field(default_factory=list)
    # Why the status is what it is when the tests do not say so, e.g. pytest exited 1 with no test failing.
    status_reason: Optional[str] = None
    versions: Optional[Dict[str, Optional[str]]] = None  # what the pytest process ran with (versions.py)
    test_seconds: float = 0.0  # the tests' set-up, call and teardown durations, summed
    # The tests this pass selected (plugin/selection.py; None: unknown, the process ended before its
    # collection did, or the plugin did not run) and those that reported: fewer reported means the
    # process ended (pytest.exit, os._exit, a crash) before they all ran.
    selected_tests: Optional[List[SelectedTest]] = None
    finished: bool = False  # the process wrote its "session" event (it did not die: os._exit, a signal)
    selected_in_order: bool = False  # selected_tests is the order the tests ran in (one process, no xdist)
    unit_deferred: Optional[str] = None  # the session handed its unit tests back: why (plugin/early_connections.py)
    reported: Set[str] = field(default_factory=set)
    unreported: List[str] = field(default_factory=list)  # counted as failures (mark_unreported)
    stopped: Optional[str] = None  # -x/--maxfail/--stepwise stopped the session: the rest did not run, as asked
    durations: Dict[str, float] = field(default_factory=dict)  # node id -> seconds (set-up, call, teardown)
    shard: Optional[Dict[str, Any]] = None  # the plugin's "shard" event: what this shard selected of what

    @property
    def all_reported(self) -> bool:
        return self.selected_tests is not None and not self.missing()

    def missing(self) -> List[SelectedTest]:
        """The selected tests that did not report (none when the selection is unknown)."""
        return [t for t in self.selected_tests or () if t.nodeid not in self.reported]

    def to_model(self) -> Pass:
        return Pass(
            kind=self.kind, selected=self.selected, status=self.status, exit_code=self.exit_code,
            duration_seconds=round(self.duration_seconds, 3), counts=Counts(**self.counts),
            deselected=self.deselected, failures=tuple(self.failures), slowest=tuple(self.slowest),
            heaviest=tuple(self.heaviest), warnings=tuple(self.warnings), status_reason=self.status_reason,
        )


def read_events(path: Path, kind: str, project: Project, only_kind: bool = False) -> PassResult:
    """Fold a pass's event lines into counts, failures and timings.

    ``only_kind``: the events of one session that ran both kinds (runner/session.py); the tests of
    the other kind are left out, everything else (collection errors, warnings) kept.
    """
    result = PassResult(kind)
    if not path.exists():
        return result
    outcome: Dict[str, str] = {}
    durations: Dict[str, float] = {}
    statements: Dict[str, int] = {}  # nodeid -> SQL statements it executed (plugin/queries.py)
    # Written as ASCII JSON by events.py; a pass killed mid-line can still leave a broken tail.
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        etype = event.get("type")
        if etype == "test":
            if only_kind and event.get("kind") != kind:
                continue
            nodeid = event["nodeid"]
            durations[nodeid] = durations.get(nodeid, 0.0) + float(event.get("duration", 0.0))
            if event.get("statements"):
                _count_statements(statements, nodeid, event["statements"])
            when, status = event["when"], event["outcome"]
            if status == "failed":
                # A failing setup or teardown is an error (as pytest counts it), a failing call a failure.
                outcome[nodeid] = "failed" if when == "call" else "errors"
                result.failures.append(_failure(event, kind, project))
            elif status == "skipped" and nodeid not in outcome:
                outcome[nodeid] = "xfailed" if event.get("wasxfail") else "skipped"
            elif status == "passed" and when == "call":
                outcome[nodeid] = "xpassed" if event.get("wasxfail") else "passed"
            if event.get("flaky") and when == "call":
                # passed on its re-run (plugin/rerun.py): green, and said in every report, base or not
                message = (f"flaky: {nodeid} failed, then passed on its re-run "
                           f"({' '.join(str(event['flaky']).split())[:200]})")
                if message not in result.warnings:
                    result.warnings.append(message)
        elif etype == "statements":  # a test that failed before its teardown counted them
            if event.get("nodeid") and not (only_kind and event.get("kind") != kind):
                _count_statements(statements, event["nodeid"], event.get("statements"))
        elif etype == "collect_error":
            result.counts["errors"] += 1
            result.failures.append(Failure(
                nodeid=event["nodeid"], kind=kind, when="collect",
                file=event.get("file"), repo_path=project.repo_relative(event.get("file") or ""),
                line=int(event.get("line") or 1), message=plain(event.get("message", "")),
                traceback=plain(event.get("traceback", "")),
                output="",
            ))
        elif etype == "session":
            result.finished = True
            result.deselected = int(event.get("deselected", 0))
            result.stopped = str(event["stopped"]) if event.get("stopped") else None
        elif etype == "infrastructure_error":
            result.infrastructure_error = InfrastructureError(event.get("phase"), event.get("message"))
        elif etype == "usage_error":
            result.usage_error = event.get("message")
        elif etype == "shard":
            result.shard = event
        elif etype == "environment" and isinstance(event.get("versions"), dict):
            result.versions = event["versions"]
        elif etype == "warning":
            message = str(event.get("message"))
            if message not in result.warnings:  # xdist workers may each report the same one
                result.warnings.append(message)
    for status in outcome.values():
        result.counts[status] += 1
    result.counts["total"] = len(outcome)
    result.test_seconds = sum(durations.values())
    result.durations = durations
    result.reported = set(outcome)
    result.slowest = [
        SlowTest(n, round(d, 4)) for n, d in sorted(durations.items(), key=lambda kv: kv[1], reverse=True)[:SLOWEST]
    ]
    by_count = sorted(statements.items(), key=lambda kv: (-kv[1], kv[0]))
    result.heaviest = [HeavyTest(n, c) for n, c in by_count[:HEAVIEST]]
    return result


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    """A failure's message or traceback without pytest's colours: under ``--color=yes`` (the action's
    log) pytest colours the assertion diff, and the escapes would reach summary.json, the
    annotations (shown raw) and the job summary."""
    return _SGR.sub("", text)


def _count_statements(statements: Dict[str, int], nodeid: str, value: Any) -> None:
    """A test's count (the largest reported: each of its phases' events may carry it)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        statements[nodeid] = max(value, statements.get(nodeid, 0))


def _failure(event: Dict[str, Any], kind: str, project: Project) -> Failure:
    file = event.get("file") or ""
    return Failure(
        nodeid=event["nodeid"],
        kind=kind,
        when=event["when"],
        file=file,
        repo_path=project.repo_relative(file) if file else "",
        line=int(event.get("line") or 1),
        message=plain(event.get("message", "")),
        traceback=plain(event.get("traceback", "")),
        output=event.get("output", ""),
    )


def write_summary(results: Path, summary: Summary) -> None:
    """summary.json and summary.md, both whole or neither (a full disk once left a 0-byte summary.json).

    Any text is accepted: test output and ids carry bytes that are not UTF-8 (see outputs.clean).
    Raises OSError when they cannot be written; nothing half-written is left behind.
    """
    write_atomically({results / "summary.md": render_markdown(summary),
                      results / "summary.json": dumps(summary.to_json())})


# A lead-in that announces the lines after it ("... failed (exit 1). Last lines:", "Server log:").
def merge_collection_errors(passes: Passes) -> Passes:
    """List a module that fails to collect once, not once per pass.

    Both passes collect every test module, so a syntax error is reported by each; listed twice it
    reads as two problems (and the pull request got two identical annotations). The first pass's
    entry stays, with ``passes`` naming every pass that hit it; the counts still say what each pass saw.
    """
    hits: Dict[Tuple[Any, Any], List[str]] = {}  # (file, message) -> the passes, one entry per report
    first = set()  # (pass, index) of the entry kept for each (file, message)
    for kind, result in passes.items():
        for index, failure in enumerate(result.failures):
            if failure.when == "collect":
                key = (failure.file, failure.message)
                if key not in hits:
                    first.add((kind, index))
                hits.setdefault(key, []).append(kind)

    def kept(kind: str, result: Pass) -> Pass:
        failures = [f if f.when != "collect" else replace(f, passes=tuple(hits[(f.file, f.message)]))
                    for i, f in enumerate(result.failures) if f.when != "collect" or (kind, i) in first]
        return replace(result, failures=tuple(failures))

    return Passes(kept("unit", passes.unit), kept("integration", passes.integration))


def _threshold_lines(coverage: Coverage) -> List[str]:
    """Each coverage minimum with where it was set and whether it was met.

    A minimum can come from the project's own files (fail_under in its coverage config), which
    nobody typed for this run; saying where it came from is what makes a coverage failure actionable.
    """
    sources = coverage.threshold_sources
    lines = []
    for key, limit in coverage.thresholds.items():
        if limit is None:
            continue
        measured = coverage.figure(key)
        verdict = "missed" if measured is None or measured.percent < limit else "met"
        source = getattr(sources, key) if sources is not None else None
        origin = f" ({source})" if source else ""
        lines.append(f"- {key} coverage threshold {limit:g}%{origin}: {verdict}, measured {pct(measured)}")
    if not lines:
        return []
    return ["", "Coverage thresholds, checked on the figures above (never inside one pass):", "", *lines]


def _shard_lines(summary: Summary) -> List[str]:
    """Which shard a run was (its thresholds are not checked), or which folders were combined."""
    shard = summary.shard
    if shard is not None:
        of = f": {shard.selected} of {shard.collected} tests" if shard.selected is not None else ""
        return ["", f"Shard {shard.index}/{shard.total}{of}. Coverage thresholds are not checked in a shard run: "
                    "`async-test combine` checks them on the combined figures."]
    if not summary.shards:
        return []
    lines = ["", "Combined from:", "", "| shard | tests | time | exit | results folder |", "|---|---:|---:|---:|---|"]
    for run in summary.shards:
        name = f"{run.index}/{run.total}" if run.index is not None else "-"
        lines.append(f"| {name} | {run.tests} | {run.duration_seconds:.1f}s | {run.exit_code} | "
                     f"`{printable(run.results_dir)}` |")
    return lines


def render_markdown(summary: Summary) -> str:
    exit_info = summary.exit
    lines = [f"# async-test: {printable(exit_info.reason)} (exit {exit_info.code})", ""]
    lines += results_table(summary)
    if summary.affected is not None:  # --affected: "ran 37 of 1,204 tests (affected by 2 changed files)"
        lines += ["", f"**Affected tests**: {printable(summary.affected.line)}"]
        if summary.affected.coverage_line:
            lines += ["", f"**Affected tests**: {printable(summary.affected.coverage_line)}"]
    lines += _shard_lines(summary)
    lines += [] if summary.shard is not None else _threshold_lines(summary.coverage)
    reasons = [f"**{kind} pass {p.status}**: {printable(p.status_reason)}"
               for kind, p in summary.passes.items() if p.status_reason]
    if reasons:
        lines += ["", *reasons]
    infra = summary.infrastructure_error
    if infra:
        lines += ["", f"**Infrastructure failure ({infra.phase})**: {printable(str(infra.message))}"]
    warnings = summary.warnings
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {printable(w)}" for w in warnings]
    failures = summary.failures
    if failures:
        lines += ["", "## Failures", ""]
        for f in failures:
            where = " and ".join(f.passes or [f.kind])
            where += " passes" if len(f.passes or []) > 1 else ""
            message = f.message.splitlines()[0] if f.message else ""
            at = f"{printable(f.repo_path)}:{f.line}"
            lines += [f"- `{printable(f.nodeid)}` ({where}, {f.when}) at `{at}`: {printable(message)}"]
    heavy = heaviest(summary)
    if heavy:
        lines += ["", f"## {HEAVIEST_TITLE}", "", *HEAVIEST_HEADER]
        for t in heavy:  # in a table even a code span needs its pipes escaped (the backslash is not shown)
            nodeid = printable(t.nodeid).replace("|", "\\|")
            lines.append(f"| `{nodeid}` | {t.statements} |")
    return "\n".join(lines) + "\n"
