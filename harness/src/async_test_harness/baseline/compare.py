"""The comparison of a run (the head) with a baseline (the base): a pure function of the two.

What a reviewer cannot see in a report of the head alone: whether coverage went up or down (in
total, per pass, per file), which tests came and went, which failures this change brought and which
were failing already, which test now runs many more SQL statements (the N+1 query a review misses),
and which test got slower beyond what a noisy runner explains.

Thresholds (``Thresholds``), chosen so that a re-run of the same commit reports nothing:

* a query regression is a test whose statement count grew to more than ``query_ratio`` times the
  base's AND by at least ``query_added`` statements (3 -> 7 is noise in a fixture, 3 -> 40 is a loop);
* a time regression is a test more than ``time_ratio`` times slower AND ``time_seconds`` slower than
  the base, after both are scaled by the run's own noise: the median head/base ratio of the tests
  that took at least ``time_floor`` seconds on both, if at least ``NOISE_SAMPLE`` did (a runner twice
  as slow makes every test twice as slow; that is the machine, not the change). Timing on shared
  runners swings 2-5x for millisecond tests, which the absolute floor keeps out.

``Comparison.to_json`` / ``Comparison.from_json`` are ``comparison.json`` (untrusted when read:
``from_json`` raises ``ValueError`` on anything else, which the report says in one line).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import COMPARISON_FILE, FAILING, FLAKY_HISTORY_RUNS, FORMAT_VERSION, KNOWN_FLAKY_RUNS
from .store import Baseline, Unusable, known_flaky, read_bytes

FIGURE_NAMES = ("combined", "unit", "integration")  # the order the report shows them in
COMPARISON_VERSION = FORMAT_VERSION
NOISE_SAMPLE = 5  # the fewest measurable tests the run's noise is estimated from (else 1: too few to tell)
MOVED = 0.05  # percentage points: a file "moved" when a figure of it changed by at least this (0.1 shown)


@dataclass(frozen=True)
class Thresholds:
    query_ratio: float = 2.0
    query_added: int = 5
    time_ratio: float = 2.0
    time_seconds: float = 0.5
    time_floor: float = 0.05


@dataclass(frozen=True)
class FigureChange:
    name: str  # combined, unit, integration
    before: Optional[float]
    after: Optional[float]

    @property
    def delta(self) -> Optional[float]:
        return None if self.before is None or self.after is None else round(self.after - self.before, 2)


@dataclass(frozen=True)
class FileChange:
    path: str
    before: Dict[str, Optional[float]]  # figure -> percent; None: the file was not measured
    after: Dict[str, Optional[float]]


@dataclass(frozen=True)
class Regression:
    nodeid: str
    before: float  # statements or seconds
    after: float


@dataclass(frozen=True)
class Comparison:
    base: Dict[str, Any]  # the base's source: repository, branch, commit, created_at
    coverage: Tuple[FigureChange, ...]
    files: Tuple[FileChange, ...] = ()
    added: Tuple[str, ...] = ()
    removed: Tuple[str, ...] = ()
    left_out: int = 0  # tests of the base an --affected run left out: they exist, they did not run
    new_failures: Tuple[str, ...] = ()
    old_failures: Tuple[str, ...] = ()  # failing here and on the base
    query_regressions: Tuple[Regression, ...] = ()
    time_regressions: Tuple[Regression, ...] = ()
    noise: float = 1.0  # the run's median head/base time ratio
    thresholds: Thresholds = Thresholds()
    notes: Tuple[str, ...] = ()  # what the gates made of it (gates.verdict), shown first
    flaky: Tuple[str, ...] = ()  # the head's tests that failed, then passed on their re-run
    known_flaky: Tuple[str, ...] = ()  # the head's tests flaky in KNOWN_FLAKY_RUNS of the base's history

    def figure(self, name: str) -> FigureChange:
        return next(c for c in self.coverage if c.name == name)

    def to_json(self) -> Dict[str, Any]:
        return {
            "comparison_version": COMPARISON_VERSION,
            "base": dict(self.base),
            "coverage": {c.name: {"before": c.before, "after": c.after, "change": c.delta} for c in self.coverage},
            "files": [{"path": f.path, "before": f.before, "after": f.after} for f in self.files],
            "tests": {"added": list(self.added), "removed": list(self.removed), "left_out": self.left_out},
            "failures": {"new": list(self.new_failures), "also_on_base": list(self.old_failures)},
            "query_regressions": [{"nodeid": r.nodeid, "before": r.before, "after": r.after}
                                  for r in self.query_regressions],
            "time_regressions": [{"nodeid": r.nodeid, "before": r.before, "after": r.after}
                                 for r in self.time_regressions],
            "noise": self.noise,
            "thresholds": dataclasses.asdict(self.thresholds),
            "notes": list(self.notes),
            "flaky": list(self.flaky),
            "known_flaky": list(self.known_flaky),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Comparison:
        """The comparison ``doc`` holds; raises ``ValueError`` (or a subclass) on anything else."""
        try:
            if not isinstance(doc, dict) or doc.get("comparison_version") != COMPARISON_VERSION:
                raise ValueError("not a comparison of this version")
            coverage = tuple(FigureChange(n, _pct(doc["coverage"][n]["before"]), _pct(doc["coverage"][n]["after"]))
                             for n in FIGURE_NAMES)
            files = tuple(FileChange(_str(f["path"]), _figures(f["before"]), _figures(f["after"]))
                          for f in _list(doc["files"]))
            return cls(
                base={str(k): v for k, v in doc["base"].items() if v is None or isinstance(v, str)},
                coverage=coverage, files=files,
                added=_names(doc["tests"]["added"]), removed=_names(doc["tests"]["removed"]),
                left_out=int(_number(doc["tests"].get("left_out", 0))),
                new_failures=_names(doc["failures"]["new"]), old_failures=_names(doc["failures"]["also_on_base"]),
                query_regressions=_regressions(doc["query_regressions"]),
                time_regressions=_regressions(doc["time_regressions"]),
                noise=_number(doc["noise"]), thresholds=_thresholds(doc.get("thresholds", {})),
                notes=_names(doc.get("notes", [])), flaky=_names(doc.get("flaky", [])),
                known_flaky=_names(doc.get("known_flaky", [])),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"missing or wrong field ({exc})") from None


def _thresholds(value: Any) -> Thresholds:
    if not isinstance(value, dict):
        raise ValueError("thresholds is not an object")
    default = Thresholds()
    return Thresholds(**{f.name: _number(value.get(f.name, getattr(default, f.name)))  # type: ignore[arg-type]
                         for f in dataclasses.fields(Thresholds)})


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def _list(value: Any) -> List[Any]:
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def _names(value: Any) -> Tuple[str, ...]:
    return tuple(_str(v) for v in _list(value))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e12:
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _pct(value: Any) -> Optional[float]:
    return None if value is None else _number(value)


def _figures(value: Any) -> Dict[str, Optional[float]]:
    return {n: _pct(value.get(n)) for n in FIGURE_NAMES}


def _regressions(value: Any) -> Tuple[Regression, ...]:
    return tuple(Regression(_str(r["nodeid"]), _number(r["before"]), _number(r["after"])) for r in _list(value))


def none_document(reason: str, flaky: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """comparison.json when there was nothing to compare with: the reason, for every report to say,
    and the run's flaky tests (they need no base)."""
    return {"comparison_version": COMPARISON_VERSION, "none": reason, "flaky": list(flaky)}


def flaky_tests(head: Baseline) -> Tuple[str, ...]:
    return tuple(sorted(n for n, t in head.tests.items() if t.flaky))


# The comparison, or why there is none, and the run's flaky tests (read_comparison).
Compared = Tuple[Optional[Comparison], Optional[str], Tuple[str, ...]]
NOT_COMPARED: Compared = (None, None, ())


def read_comparison(results: Path) -> Compared:
    """The results folder's comparison.json: (the comparison, None, flaky), (None, why there is none,
    flaky), or ``NOT_COMPARED`` when the folder has none (no comparison was asked for). Never raises:
    the file is the tests' to write, like summary.json, and a report must not fail on it."""
    path = results / COMPARISON_FILE
    if not path.exists() and not path.is_symlink():
        return NOT_COMPARED
    try:
        doc = json.loads(read_bytes(path).decode("utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("none"), str) and doc.get("comparison_version") == 1:
            return None, " ".join(doc["none"].split())[:300], _names(doc.get("flaky", []))
        comparison = Comparison.from_json(doc)
        return comparison, None, comparison.flaky
    except (Unusable, ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, f"{COMPARISON_FILE} is not a readable comparison ({' '.join(str(exc).split())[:200]})", ()


# ------------------------------------------------------------------ the comparison


def compare(base: Baseline, head: Baseline, thresholds: Thresholds = Thresholds()) -> Comparison:
    """What changed from ``base`` to ``head``."""
    coverage = tuple(FigureChange(n, base.coverage.get(n), head.coverage.get(n)) for n in FIGURE_NAMES)
    both = sorted(set(base.tests) & set(head.tests))
    failing = sorted(n for n, t in head.tests.items() if t.outcome in FAILING)
    noise = run_noise(base, head, thresholds)
    return Comparison(
        base={"repository": base.source.get("repository"), "branch": base.source.get("branch"),
              "commit": base.source.get("commit"), "created_at": base.created_at},
        coverage=coverage,
        files=_moved_files(base, head),
        added=tuple(sorted(set(head.tests) - set(base.tests))),
        removed=tuple(sorted(set(base.tests) - set(head.tests) - set(head.left_out))),
        left_out=len((set(base.tests) - set(head.tests)) & set(head.left_out)),
        new_failures=tuple(n for n in failing if n not in base.tests or base.tests[n].outcome not in FAILING),
        old_failures=tuple(n for n in failing if n in base.tests and base.tests[n].outcome in FAILING),
        query_regressions=tuple(
            Regression(n, base.tests[n].statements, head.tests[n].statements) for n in both
            if is_query_regression(base.tests[n].statements, head.tests[n].statements, thresholds)),
        time_regressions=_time_regressions(base, head, both, noise, thresholds),
        noise=noise, thresholds=thresholds, flaky=flaky_tests(head),
        known_flaky=tuple(n for n in known_flaky(base.history()) if n in head.tests),
    )


def _time_regressions(base: Baseline, head: Baseline, both: Sequence[str], noise: float,
                      thresholds: Thresholds) -> Tuple[Regression, ...]:
    """The tests slower beyond the thresholds, when the run as a whole grew by at least half as much.

    A one-time cost (the first request's warm-up, a lazy import) is paid by whichever test comes first,
    and a shuffled order (pytest-randomly) moves it: one test slower by 0.7 s and another faster by as
    much is time that moved, not a regression (a new user's trial: a false regression in 4 of 4 runs)."""
    timed = [n for n in both if head.tests[n].outcome == "passed" and base.tests[n].outcome == "passed"]
    grown = sum(head.tests[n].seconds for n in timed) - noise * sum(base.tests[n].seconds for n in timed)
    found = []
    for n in timed:
        before, after = base.tests[n].seconds, head.tests[n].seconds
        if is_time_regression(before, after, noise, thresholds) and grown >= (after - before * noise) / 2:
            found.append(Regression(n, round(before, 3), round(after, 3)))
    return tuple(found)


def is_query_regression(before: int, after: int, thresholds: Thresholds = Thresholds()) -> bool:
    return after > before * thresholds.query_ratio and after - before >= thresholds.query_added


def is_time_regression(before: float, after: float, noise: float, thresholds: Thresholds = Thresholds()) -> bool:
    expected = before * noise  # what the base's time is on this runner
    return after > expected * thresholds.time_ratio and after - expected > thresholds.time_seconds


def run_noise(base: Baseline, head: Baseline, thresholds: Thresholds = Thresholds()) -> float:
    """The median head/base time ratio of the tests measurable on both (at least 1: a faster runner
    does not make every test's regression cheaper to reach). With fewer than ``NOISE_SAMPLE`` such
    tests it is 1: the median of two tests is as much the change as the machine."""
    ratios = [head.tests[n].seconds / base.tests[n].seconds for n in set(base.tests) & set(head.tests)
              if base.tests[n].seconds >= thresholds.time_floor and head.tests[n].seconds >= thresholds.time_floor]
    return round(max(1.0, statistics.median(ratios)), 3) if len(ratios) >= NOISE_SAMPLE else 1.0


def _moved_files(base: Baseline, head: Baseline) -> Tuple[FileChange, ...]:
    moved = []
    for path in sorted(set(base.files) | set(head.files)):
        before = {n: base.files[path].percent(n) if path in base.files else None for n in FIGURE_NAMES}
        after = {n: head.files[path].percent(n) if path in head.files else None for n in FIGURE_NAMES}
        if any(_differs(before[n], after[n]) for n in FIGURE_NAMES):
            moved.append(FileChange(path, {n: _round(v) for n, v in before.items()},
                                    {n: _round(v) for n, v in after.items()}))
    return tuple(moved)


def _differs(a: Optional[float], b: Optional[float]) -> bool:
    return (a is None) != (b is None) or (a is not None and b is not None and abs(a - b) >= MOVED)


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 2)


# ------------------------------------------------------------------ text


def figure_text(change: FigureChange) -> str:
    """``87.2 % (+0.4)``; ``87.2 % (new)`` without a base figure; ``-`` without a head one."""
    if change.after is None:
        return "-" if change.before is None else f"- (was {change.before:.1f} %)"
    if change.before is None:
        return f"{change.after:.1f} % (new)"
    return f"{change.after:.1f} % ({signed(change.after - change.before)})"


def signed(delta: float) -> str:
    """``+0.4``, ``-2.1``, ``±0.0`` (a rounded zero has no sign)."""
    shown = f"{delta:+.1f}"
    return "±0.0" if shown in ("+0.0", "-0.0") else shown


def coverage_line(comparison: Comparison) -> str:
    """``combined 87.2 % (+0.4), unit 61.0 % (-2.1), integration 80.0 % (±0.0)``: the figures measured."""
    return ", ".join(f"{c.name} {figure_text(c)}" for c in comparison.coverage
                     if c.before is not None or c.after is not None) or "not measured"


def base_name(comparison: Comparison) -> str:
    """``abc1234 on main``, ``main``, or ``the baseline``."""
    commit, branch = comparison.base.get("commit"), comparison.base.get("branch")
    short = commit[:7] if isinstance(commit, str) else None
    if short and branch:
        return f"{short} on {branch}"
    return short or branch or "the baseline"


def console_lines(comparison: Comparison) -> List[str]:
    """The comparison in a few lines for the console summary."""
    c = comparison
    lines = [f"compared with {base_name(c)}: coverage {coverage_line(c)}",
             f"tests: {len(c.added)} added, {len(c.removed)} removed"
             f"{f' ({c.left_out} left out by --affected)' if c.left_out else ''}; failures: {len(c.new_failures)} new, "
             f"{len(c.old_failures)} also failing on the base"]
    lines += [f"  {n}" for n in c.notes]
    lines += [f"  new failure: {n}{known_flaky_label(c, n)}" for n in c.new_failures]
    lines += [f"  also failing on the base: {n}{known_flaky_label(c, n)}" for n in c.old_failures]
    lines += [f"  query regression: {r.nodeid}: {r.before:g} -> {r.after:g} statements" for r in c.query_regressions]
    lines += [f"  time regression: {r.nodeid}: {r.before:.2f} s -> {r.after:.2f} s" for r in c.time_regressions]
    lines += [f"  flaky (failed, then passed on its re-run): {n}" for n in c.flaky]
    lines += [f"  known flaky (flaky in {KNOWN_FLAKY_RUNS} or more of the base's last {FLAKY_HISTORY_RUNS} "
              f"runs): {n}" for n in c.known_flaky]
    return lines


def known_flaky_label(comparison: Comparison, nodeid: str) -> str:
    """`` (known flaky)`` after a failure of a known-flaky test: likely not this change's doing."""
    return " (known flaky)" if nodeid in comparison.known_flaky else ""
