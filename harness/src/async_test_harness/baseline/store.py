"""Making, writing and reading a baseline (the layout is the package's docstring).

A baseline is made from a finished run's results folder (summary.json and the events files the
plugin wrote), so the same code makes one for ``async-test run --baseline DIR``, for the head side
of ``async-test compare``, and from any results folder a user kept.

Everything read here is untrusted (a cache, a folder a user names, the tests' own output): a
reader either returns a whole ``Baseline`` or raises ``Unusable`` with one line saying why, never
another exception. Files are opened without blocking and refused unless regular (a FIFO would hang
the reader) and larger than ``MAX_BYTES`` is refused unread.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..summary.model import FIGURES, SCHEMA_VERSION
from ..untrusted_files import UnusableFile, read_regular
from . import (
    BASELINE_FILE,
    FLAKY_HISTORY_RUNS,
    FORMAT_NAME,
    FORMAT_VERSION,
    KNOWN_FLAKY_RUNS,
    MAX_HISTORY_ENTRIES,
    MAX_HISTORY_IDS,
    OUTCOMES,
)

MAX_BYTES = 64 * 1024 * 1024
PASSES = ("unit", "integration")
# Read in this order: a later file's record of a test wins (an integration pass re-run on its own
# after the one session crashed writes events-integration.jsonl after events-all.jsonl).
EVENTS_FILES = ("events-all.jsonl", "events-unit.jsonl", "events-integration.jsonl")
# What an --affected run's plugin wrote about the tests it kept and left out (runner/affected_run.py's
# SELECTION_FILE + affected.COUNTS_SUFFIX; tests/unit keeps the names equal).
AFFECTED_COUNTS_FILE = "affected-selection.json.counts.json"
LEFT_OUT_LIMIT = 200_000
COUNT_KEYS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "total")


class Unusable(Exception):
    """No baseline can be read or made here; the message is one line (it follows "no comparison: ")."""


@dataclass(frozen=True)
class TestRecord:
    __test__ = False  # not a pytest test class, though its name starts with Test

    kind: str  # unit or integration
    outcome: str  # one of OUTCOMES
    seconds: float
    statements: int = 0
    flaky: bool = False  # failed, then passed on its re-run (plugin/rerun.py)


@dataclass(frozen=True)
class FileRecord:
    """A measured file's statements, and how many of them each pass, and either, ran."""

    statements: int
    unit: int
    integration: int
    covered: int

    def percent(self, figure: str) -> float:
        ran = {"unit": self.unit, "integration": self.integration, "combined": self.covered}[figure]
        return 100.0 * ran / self.statements if self.statements else 100.0


@dataclass(frozen=True)
class PassRecord:
    status: str
    duration_seconds: float
    counts: Dict[str, int]


@dataclass(frozen=True)
class HistoryRun:
    """One run of a baseline's flaky history: its commit (None: not known) and its flaky tests."""

    commit: Optional[str]
    created_at: str
    flaky: Tuple[str, ...]


@dataclass(frozen=True)
class Baseline:
    tool_version: str
    created_at: str
    source: Dict[str, Any]  # repository, branch, commit, path_in_repo, started_at, duration_seconds
    exit_code: int
    exit_name: str
    passes: Dict[str, PassRecord]
    coverage: Dict[str, Optional[float]]  # unit, integration, combined percent (None: not measured)
    files: Dict[str, FileRecord] = field(default_factory=dict)
    tests: Dict[str, TestRecord] = field(default_factory=dict)
    # The flaky tests of the last runs that stored a baseline, newest first (None: this run's alone,
    # as for a baseline just made from a results folder or stored before the history existed).
    flaky_history: Optional[Tuple[HistoryRun, ...]] = None
    history_note: Optional[str] = None  # why a stored history was ignored (one line); not written
    # The tests an --affected run left out (they exist; the change could not reach them): not "removed"
    # in a comparison. Read from the results folder, never written (a baseline is a full run's).
    left_out: Tuple[str, ...] = ()

    def history(self) -> Tuple[HistoryRun, ...]:
        """The flaky history: the stored one, or this run's own entry."""
        if self.flaky_history is not None:
            return self.flaky_history
        own = tuple(sorted(n for n, t in self.tests.items() if t.flaky))
        return (HistoryRun(_commit(self.source.get("commit")), self.created_at, own),)

    def to_json(self) -> Dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "tool": {"name": "async-test", "version": self.tool_version},
            "created_at": self.created_at,
            "source": dict(self.source),
            "exit": {"code": self.exit_code, "name": self.exit_name},
            "passes": {k: {"status": p.status, "duration_seconds": p.duration_seconds, "counts": dict(p.counts)}
                       for k, p in self.passes.items()},
            "coverage": {**{k: self.coverage.get(k) for k in FIGURES},
                         "files": {path: [f.statements, f.unit, f.integration, f.covered]
                                   for path, f in sorted(self.files.items())}},
            "tests": {nodeid: [t.kind, t.outcome, round(t.seconds, 4), t.statements, *([1] if t.flaky else [])]
                      for nodeid, t in sorted(self.tests.items())},
            "flaky_history": [{"commit": r.commit, "created_at": r.created_at, "flaky": list(r.flaky)}
                              for r in self.history()],
        }


# ------------------------------------------------------------------ the flaky history (known-flaky tests)


def with_history(new: Baseline, previous: Optional[Baseline], runs: int = FLAKY_HISTORY_RUNS) -> Baseline:
    """``new`` carrying the flaky history: its own run first, then ``previous``'s runs but the one of
    the same commit (stored twice, it counts once: the newer entry), at most ``runs`` in all."""
    own = new.history()[:1]
    commit = own[0].commit if own else None
    older = () if previous is None else tuple(
        r for r in previous.history() if commit is None or r.commit != commit)
    return dataclasses.replace(new, flaky_history=(own + older)[:runs])


def known_flaky(history: Sequence[HistoryRun], at_least: int = KNOWN_FLAKY_RUNS) -> Tuple[str, ...]:
    """The tests flaky in at least ``at_least`` of the history's runs, sorted."""
    counts: Dict[str, int] = {}
    for run in history:
        for nodeid in set(run.flaky):
            counts[nodeid] = counts.get(nodeid, 0) + 1
    return tuple(sorted(n for n, count in counts.items() if count >= at_least))


def _history(value: Any) -> Tuple[Optional[Tuple[HistoryRun, ...]], Optional[str]]:
    """A stored ``flaky_history``, and why it was ignored: hostile input costs the history, never the
    baseline (the comparison does not need it) and never a traceback."""
    if value is None:
        return None, None
    if not isinstance(value, list):
        return None, f"its flaky history is not a list ({type(value).__name__})"
    if len(value) > MAX_HISTORY_ENTRIES:
        return None, f"its flaky history holds {len(value)} runs (at most {MAX_HISTORY_ENTRIES} are read)"
    runs = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            return None, f"its flaky history's run {index} is not an object"
        commit, created_at, flaky = entry.get("commit"), entry.get("created_at", ""), entry.get("flaky")
        if not (commit is None or (isinstance(commit, str) and len(commit) <= 200)) or not isinstance(created_at, str):
            return None, f"its flaky history's run {index} has no usable commit or created_at"
        if not isinstance(flaky, list):
            return None, f"its flaky history's run {index} has no list of flaky tests"
        if len(flaky) > MAX_HISTORY_IDS:
            return None, f"its flaky history's run {index} lists {len(flaky)} tests (at most {MAX_HISTORY_IDS})"
        if not all(isinstance(n, str) for n in flaky):
            return None, f"its flaky history's run {index} lists a test id that is not text"
        runs.append(HistoryRun(commit, created_at[:40], tuple(flaky)))
    return tuple(runs[:FLAKY_HISTORY_RUNS]), None


def _commit(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------ making one from a results folder


def source_from_environment(env: Mapping[str, str]) -> Dict[str, Optional[str]]:
    """Where the run came from, as far as the environment says (GitHub Actions sets these)."""
    def pick(*names: str) -> Optional[str]:
        for name in names:
            if env.get(name):
                return env[name]
        return None

    return {"repository": pick("GITHUB_REPOSITORY"),
            "branch": pick("ASYNC_TEST_BASELINE_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
            "commit": pick("ASYNC_TEST_BASELINE_COMMIT", "GITHUB_SHA")}


def source_from_git(repo: Path) -> Dict[str, Optional[str]]:
    """The commit (and branch) the repository's work tree is on; nothing when git or the repository is not
    there, or HEAD has no commit yet."""
    found: Dict[str, Optional[str]] = {}
    for key, args in (("commit", ["rev-parse", "--verify", "-q", "HEAD"]),
                      ("branch", ["symbolic-ref", "-q", "--short", "HEAD"])):
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return {}
        value = done.stdout.strip() if done.returncode == 0 else ""
        if value:
            found[key] = value
    return found


def from_results(results: Path, env: Optional[Mapping[str, str]] = None) -> Baseline:
    """The baseline of the run whose results folder is ``results``; raises ``Unusable``.

    summary.json is read for the few fields a baseline keeps, each checked for its type (``_summary``):
    the report validates the whole document against its schema anyway, and doing that here too cost a
    2,000-test suite half a second per run (benchmarks/baseline.py).
    """
    summary_path = results / "summary.json"
    if not summary_path.exists():
        raise Unusable(f"{results} holds no summary.json (not an async-test results folder or baseline)")
    data = read_bytes(summary_path)
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
        if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version is not {SCHEMA_VERSION}")
        baseline, collect_errors = _summary(doc, env)
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError, RecursionError) as exc:
        raise Unusable(f"{summary_path} is not a readable async-test summary ({_one_line(exc)})") from None
    tests: Dict[str, TestRecord] = {}
    for name in EVENTS_FILES:
        path = results / name
        if path.exists():
            tests.update(_fold_events(_lines(path), name))
    for nodeid, kind in collect_errors:  # a module that did not collect: its "test" is the module
        tests.setdefault(nodeid, TestRecord(kind, "error", 0.0, 0))
    return dataclasses.replace(baseline, tests=tests, left_out=_left_out(results / AFFECTED_COUNTS_FILE))


def _left_out(path: Path) -> Tuple[str, ...]:
    """The node ids an --affected run left out (untrusted, like every file the tests could write); ()
    when the run selected nothing out or the file cannot be read."""
    if not path.exists():
        return ()
    try:
        doc = json.loads(read_bytes(path).decode("utf-8"), parse_constant=_no_constant)
        ids = doc["left_out"]
        if not isinstance(ids, list) or len(ids) > LEFT_OUT_LIMIT:
            return ()
        return tuple(i for i in ids if isinstance(i, str))
    except (Unusable, KeyError, TypeError, ValueError, UnicodeDecodeError, RecursionError):
        return ()


def _summary(doc: Dict[str, Any], env: Optional[Mapping[str, str]]) -> Tuple[Baseline, List[Tuple[str, str]]]:
    """The baseline's fields of a summary.json document, and its collection errors (node id, pass)."""
    if doc["tool"]["name"] != "async-test":
        raise ValueError("not written by async-test")
    passes, collect_errors = {}, []
    for kind in PASSES:
        p = doc["passes"][kind]
        passes[kind] = PassRecord(_text(p["status"]), _seconds(p["duration_seconds"]),
                                  {k: _count(p["counts"][k]) for k in COUNT_KEYS})
        for failure in p["failures"]:
            if failure["when"] == "collect":
                collect_errors.append((_text(failure["nodeid"]), kind))
    cov = doc["coverage"]
    files = {}
    for f in cov["files"]:
        both, neither = len(f["both"]), len(f["neither"])
        statements = _count(f["statements"])
        files[_text(f["path"])] = FileRecord(statements, len(f["unit_only"]) + both, len(f["integration_only"]) + both,
                                             max(0, statements - neither))
    found = source_from_environment(os.environ if env is None else env)
    if found["commit"] is None:  # a run on a laptop: the repository says (the action's runs set GITHUB_SHA)
        found.update({k: v for k, v in source_from_git(Path(_text(doc["project"]["repo_root"]))).items()
                      if found.get(k) is None})
    source: Dict[str, Any] = {**found,
                              "path_in_repo": _text(doc["project"]["path_in_repo"]),
                              "started_at": _text(doc["started_at"]),
                              "duration_seconds": _seconds(doc["duration_seconds"])}
    baseline = Baseline(
        tool_version=_text(doc["tool"]["version"]),
        created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        source=source, exit_code=_count(doc["exit"]["code"]), exit_name=_text(doc["exit"]["name"]),
        passes=passes,
        coverage={k: None if cov[k] is None else _percent(cov[k]["percent"]) for k in FIGURES},
        files=files,
    )
    return baseline, collect_errors


def _fold_events(lines: Sequence[str], file_name: str) -> Dict[str, TestRecord]:
    """Each test's outcome, time and statements from one events file, as runner/results.py folds them."""
    default_kind = next((k for k in PASSES if k in file_name), "unit")
    kinds: Dict[str, str] = {}
    outcome: Dict[str, str] = {}
    seconds: Dict[str, float] = {}
    statements: Dict[str, int] = {}
    flaky = set()
    for event in _events(lines):
        if not isinstance(event, dict) or not isinstance(event.get("nodeid"), str):
            continue
        nodeid = event["nodeid"]
        count = event.get("statements")
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            statements[nodeid] = max(count, statements.get(nodeid, 0))
        if event.get("type") != "test":
            continue
        if event.get("flaky"):
            flaky.add(nodeid)
        kind = event.get("kind")
        kinds[nodeid] = kind if kind in PASSES else kinds.get(nodeid, default_kind)
        duration = event.get("duration")
        if isinstance(duration, (int, float)) and math.isfinite(duration):
            seconds[nodeid] = seconds.get(nodeid, 0.0) + float(duration)
        when, status = event.get("when"), event.get("outcome")
        if status == "failed":
            outcome[nodeid] = "failed" if when == "call" else "error"
        elif status == "skipped" and nodeid not in outcome:
            outcome[nodeid] = "xfailed" if event.get("wasxfail") else "skipped"
        elif status == "passed" and when == "call":
            outcome[nodeid] = "xpassed" if event.get("wasxfail") else "passed"
    return {n: TestRecord(kinds[n], o, seconds.get(n, 0.0), statements.get(n, 0), n in flaky and o == "passed")
            for n, o in outcome.items()}


def _events(lines: Sequence[str]) -> List[Any]:
    """The events, parsed as one JSON array (one call: a third of the time of one per line on a
    2,000-test suite); line by line, skipping the broken ones, when that fails (a pass killed
    mid-line leaves a broken tail)."""
    try:
        parsed = json.loads("[" + ",".join(line for line in lines if line.strip()) + "]")
        if isinstance(parsed, list):
            return parsed
    except (ValueError, RecursionError):
        pass
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except (ValueError, RecursionError):
            continue
    return events


# ------------------------------------------------------------------ writing


def write(folder: Path, baseline: Baseline) -> Path:
    """``baseline.json`` in ``folder`` (created if missing), whole or not at all; other files left alone.

    Raises OSError (the caller says it in one line: a run's result does not depend on its baseline).
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / BASELINE_FILE
    temp = folder / f".{BASELINE_FILE}.{os.getpid()}.tmp"
    try:
        with open(temp, "w", encoding="ascii") as handle:
            json.dump(baseline.to_json(), handle, separators=(",", ":"), ensure_ascii=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


# ------------------------------------------------------------------ reading


def load(path: Path) -> Baseline:
    """The baseline at ``path``: a baseline folder, a ``baseline.json``, or a results folder (made from
    it). Raises ``Unusable``, whose message is one line."""
    try:
        if path.is_dir():
            if (path / BASELINE_FILE).exists():
                return read(path / BASELINE_FILE)
            return from_results(path)
        if path.exists():
            return read(path)
    except OSError as exc:
        raise Unusable(f"{path} cannot be read ({_one_line(exc)})") from None
    raise Unusable(f"{path} does not exist")


def read(path: Path) -> Baseline:
    """The baseline in the file ``path``; raises ``Unusable``."""
    data = read_bytes(path)
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Unusable(f"{path} is not JSON ({_one_line(exc)})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise Unusable(f"{path} is not an async-test baseline")
    if doc.get("format_version") != FORMAT_VERSION:
        raise Unusable(f"{path} is baseline format version {_shown(doc.get('format_version'))}; this async-test "
                       f"reads version {FORMAT_VERSION} (the next run on the base branch stores a new one)")
    try:
        return _parse(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Unusable(f"{path} is a damaged baseline (missing or wrong field: {_one_line(exc)})") from None


def _parse(doc: Dict[str, Any]) -> Baseline:
    source = doc["source"]
    if not isinstance(source, dict):
        raise TypeError("source")
    coverage = doc["coverage"]
    files = {}
    for path, row in coverage["files"].items():
        if not isinstance(row, list) or len(row) < 4:
            raise ValueError(f"file {path!r}")
        statements, unit, integration, covered = (_count(v) for v in row[:4])
        files[_text(path)] = FileRecord(statements, unit, integration, covered)
    tests = {}
    for nodeid, row in doc["tests"].items():
        if not isinstance(row, list) or len(row) < 4:
            raise ValueError(f"test {nodeid!r}")
        kind, outcome, seconds, statements = row[:4]  # later elements: a later version's additions
        if kind not in PASSES or outcome not in OUTCOMES:
            raise ValueError(f"test {nodeid!r}")
        tests[_text(nodeid)] = TestRecord(kind, outcome, _seconds(seconds), _count(statements),
                                          len(row) > 4 and row[4] == 1)
    passes = {}
    for kind in PASSES:
        p = doc["passes"][kind]
        passes[kind] = PassRecord(_text(p["status"]), _seconds(p["duration_seconds"]),
                                  {k: _count(p["counts"][k]) for k in COUNT_KEYS})
    history, note = _history(doc.get("flaky_history"))
    return Baseline(
        tool_version=_text(doc["tool"]["version"]), created_at=_text(doc["created_at"]),
        source={k: (v if v is None or isinstance(v, (str, int, float)) else str(v)) for k, v in source.items()},
        exit_code=_count(doc["exit"]["code"]), exit_name=_text(doc["exit"]["name"]),
        passes=passes,
        coverage={k: _percent(coverage[k]) for k in FIGURES},
        files=files, tests=tests, flaky_history=history, history_note=note,
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{_shown(value)} is not a count")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
        raise ValueError(f"{_shown(value)} is not a duration")
    return float(value)


def _percent(value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ValueError(f"{_shown(value)} is not a percentage")
    return float(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_bytes(path: Path) -> bytes:
    """The file's bytes: opened without blocking (a FIFO is refused, not waited on), at most MAX_BYTES
    (untrusted_files.py, as combine reads its inputs)."""
    try:
        return read_regular(path, MAX_BYTES)
    except UnusableFile as exc:  # it names the file and what it is instead
        raise Unusable(_one_line(exc)) from None
    except OSError as exc:
        raise Unusable(f"{path} cannot be read ({_one_line(exc)})") from None


def _lines(path: Path) -> Tuple[str, ...]:
    try:
        return tuple(read_bytes(path).decode("utf-8", "replace").splitlines())
    except Unusable:
        return ()  # an events file we cannot read: its tests are simply not in the baseline


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."
