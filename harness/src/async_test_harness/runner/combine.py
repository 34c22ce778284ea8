"""``async-test combine OUTPUT DIR...``: the results folders of N shards merged into one.

A suite split with ``async-test run --shard K/N`` leaves N results folders, each with a part of the
tests. People and the reporting step want one: this writes a results folder of the same shape as a
run's (so ``async-test html``, the GitHub report and every other reader work on it unchanged):

* ``junit-unit.xml``, ``junit-integration.xml``: the shards' test suites side by side;
* coverage data per pass, merged with coverage.py's own ``combine`` (the shards' paths mapped onto
  this project's when they ran in other folders: another runner's workspace, a container's
  ``/workspace``), then every coverage report from ``coverage_reports.build_reports``, the code a
  run uses, so a combined figure is computed exactly as an unsharded run's;
* ``summary.json`` (same schema; counts summed, the shards listed with their times in ``shards``),
  ``summary.md``, and ``durations.json``, every shard's measured durations: the file the next
  sharded run balances by.

Coverage thresholds are checked here, on the combined figures, and only here: a shard's part of the
suite says nothing about the whole, so ``run --shard`` leaves them to this command.

The input folders are only read (coverage data is copied before coverage.py combines it, since its
combine deletes what it read); the output folder is claimed like a run's (``results_folder.claim``).
"""

from __future__ import annotations

import os
import shutil
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..sharding import RESULTS_DURATIONS, ShardError, durations_text, merge_durations, read_durations
from ..summary.format import pct
from ..summary.model import (
    TOOL_NAME,
    Counts,
    Coverage,
    Exit,
    Failure,
    Pass,
    Passes,
    PerFigure,
    ProjectPaths,
    ShardRun,
    SlowTest,
    Summary,
    Tool,
)
from ..summary.validate import Invalid
from .coverage_reports import build_reports
from .project import Project, ProjectError, find_project
from .results import SLOWEST, write_summary
from .results_folder import ResultsDirError, claim, write_atomically
from .session import recount

PASSES = ("unit", "integration")
FIGURE_FLAGS = {"unit": "--fail-under-unit", "integration": "--fail-under-integration", "combined": "--fail-under"}
EXIT_NAMES = {0: "ok", 1: "tests_failed", 2: "usage_error", 3: "infrastructure_error", 4: "coverage_below_threshold",
              5: "no_tests", 130: "interrupted"}
STATUS_ORDER = ("interrupted", "error", "failed", "passed", "empty", "not-run")  # the worst shard's wins
KIND_PROPERTY = "async_test_kind"


class CombineError(Exception):
    """The folders cannot be combined; one paragraph saying why and what to do (exit 2)."""


@dataclass
class CombineOptions:
    output: str
    inputs: List[str]
    html: bool = False
    html_include_tests: bool = False  # the test files in the HTML report and its total
    fail_under: Dict[str, Optional[float]] = field(default_factory=dict)
    project: Optional[str] = None  # where the sources are; default: the first shard's, if it is here
    cov_source: List[str] = field(default_factory=list)  # what the shards measured, if given to them


@dataclass
class Input:
    path: Path
    summary: Summary


def combine(options: CombineOptions, out: Any = None) -> int:
    """Merge the folders; the exit code of the merged results (as ``async-test run``'s)."""
    from .passes import OUR_OUTPUTS, Console

    console = Console(out)
    began = time.monotonic()
    inputs = _read_inputs(options)
    project = _project(options, inputs)
    target = Path(options.output).resolve()
    for given in inputs:
        if target == given.path or given.path in target.parents:
            raise CombineError(f"the combined folder {target} is {'' if target == given.path else 'inside '}the "
                               f"input folder {given.path}; inputs are never written to. Give a folder of its own, "
                               f"e.g. {given.path.parent / 'combined'}.")
    try:
        folder = claim(target, OUR_OUTPUTS)
    except ResultsDirError as exc:
        raise CombineError(str(exc)) from None
    try:
        return _combine(options, inputs, project, target, console, began)
    finally:
        folder.release()


def _read_inputs(options: CombineOptions) -> List[Input]:
    inputs: List[Input] = []
    for given in options.inputs:
        path = Path(given).resolve()
        try:
            summary = Summary.read(path / "summary.json")
        except (OSError, ValueError, Invalid) as exc:
            raise CombineError(f"{given} is not a finished run's results folder: cannot read its summary.json "
                               f"({exc}). Give the results folders of async-test run --shard K/N (each shard's "
                               f"--results-dir, default PROJECT/.async-test).") from None
        if any(i.path == path for i in inputs):
            raise CombineError(f"{given} is given twice; each results folder is combined once.")
        inputs.append(Input(path, summary))
    shards = [i.summary.shard for i in inputs]
    if any(s is not None for s in shards):
        totals = {s.total for s in shards if s is not None}
        indices = sorted(s.index for s in shards if s is not None)
        expected = list(range(1, max(totals) + 1))
        problem = None
        if None in shards:
            problem = "some of the folders are of shards and some of whole runs"
        elif len(totals) > 1:
            problem = f"the shards were split in different numbers of parts ({', '.join(map(str, sorted(totals)))})"
        elif len(set(indices)) != len(indices):
            problem = "a shard is given twice (" + ", ".join(
                f"{s.index}/{s.total}" for s in shards if s is not None and indices.count(s.index) > 1) + ")"
        elif indices != expected:
            missing = ", ".join(f"{k}/{expected[-1]}" for k in expected if k not in indices)
            problem = f"shard(s) {missing} are missing, so tests would be left out of the combined results"
        if problem:
            raise CombineError(f"cannot combine these folders: {problem}. Give the results folders of all N shards "
                               f"of one run (async-test run --shard K/N for K = 1..N), each once.")
    return inputs


def _project(options: CombineOptions, inputs: Sequence[Input]) -> Project:
    """The project whose sources the coverage reports read: given, else the first recorded one found here."""
    candidates = [options.project] if options.project else [i.summary.project.root for i in inputs] + ["."]
    errors = []
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            try:
                return find_project(candidate, options.cov_source or None)
            except ProjectError as exc:
                errors.append(str(exc))
    why = "; ".join(errors) or "none of their folders exist here"
    raise CombineError(f"cannot find the project the shards ran ({why}). Run async-test combine in the project's "
                       "folder, or give it with --project.")


def _combine(options: CombineOptions, inputs: List[Input], project: Project, target: Path, console: Any,
             began: float) -> int:
    for kind in PASSES:
        merge_junit([i.path / f"junit-{kind}.xml" for i in inputs], target / f"junit-{kind}.xml")
    merge_events([i.path for i in inputs], target)
    summaries = [i.summary for i in inputs]
    phases: Dict[str, float] = {}
    coverage = Coverage()
    if any((i.path / f".coverage.{kind}").exists() for i in inputs for kind in PASSES):
        started = time.monotonic()
        try:
            merge_coverage(inputs, project, target)
            coverage = build_reports(target, project, html=options.html,
                                     html_include_tests=options.html_include_tests)
        except Exception as exc:  # a damaged data file, a full disk: the rest of the results still count
            coverage = Coverage(error=f"{type(exc).__name__}: {exc}")
        phases["coverage"] = round(time.monotonic() - started, 3)
    durations = merge_durations(*[_durations(i.path) for i in inputs])
    if durations:
        write_atomically({target / RESULTS_DURATIONS: durations_text(durations)})
    thresholds, sources = _thresholds(options, summaries)
    below = _below(coverage, thresholds, sources)
    passes = Passes(*(merge_pass(kind, summaries) for kind in PASSES))
    code = _exit_code(summaries, passes, below)
    reason = _reason(code, summaries, passes, below)
    slowest_shard = max(s.duration_seconds for s in summaries)
    phases.update({f"{kind}_pass": round(sum(s.phases.get(f"{kind}_pass", 0.0) for s in summaries), 3)
                   for kind in PASSES})
    phases["combine"] = round(time.monotonic() - began, 3)
    phases["total"] = round(slowest_shard, 3)  # the shards ran side by side: the slowest is the wall time
    first = summaries[0]
    infra = next((replace(s.infrastructure_error, message=f"{_name(s)}: {s.infrastructure_error.message}")
                  for s in summaries if s.infrastructure_error is not None), None)
    summary = Summary(
        tool=Tool(TOOL_NAME, __version__),
        started_at=min(s.started_at for s in summaries),
        duration_seconds=round(slowest_shard, 3),
        project=ProjectPaths(str(project.root), str(project.repo_root), project.path_in_repo, str(target)),
        exit=Exit(code, EXIT_NAMES[code], reason),
        environment=dict(first.environment),
        phases=phases,
        passes=passes,
        coverage=replace(coverage, thresholds=thresholds, threshold_sources=sources, below_threshold=tuple(below)),
        infrastructure_error=infra,
        files={
            "junit_unit": "junit-unit.xml", "junit_integration": "junit-integration.xml",
            "coverage_unit": "coverage-unit.xml", "coverage_integration": "coverage-integration.xml",
            "coverage": "coverage.xml", "coverage_json": "coverage.json",
            **({"coverage_html": "html/index.html"} if options.html else {}),
            "coverage_data": ".coverage", "summary_markdown": "summary.md",
            **({"durations": RESULTS_DURATIONS} if durations else {}),
        },
        shards=tuple(ShardRun(s.shard.index if s.shard else None, s.shard.total if s.shard else None,
                              str(i.path), s.started_at, s.duration_seconds, s.exit.code,
                              sum(p.counts.total for p in s.passes))
                     for i, s in zip(inputs, summaries)),
    )
    try:
        write_summary(target, summary)
    except OSError as exc:
        console.line(f"async-test: could not write summary.json and summary.md to {target} "
                     f"({exc.strerror or exc}); free space there and combine again", "red")
        return 3
    _print(console, summary)
    return code


def _name(summary: Summary) -> str:
    return f"shard {summary.shard.index}/{summary.shard.total}" if summary.shard else summary.project.results_dir


def _durations(folder: Path) -> Dict[str, float]:
    path = folder / RESULTS_DURATIONS
    if not path.is_file():
        return {}
    try:
        return read_durations(path)
    except ShardError:
        return {}


# ------------------------------------------------------------------ JUnit


def merge_events(sources: Sequence[Path], target: Path) -> None:
    """Every folder's events files, one after another: each test's outcome, time and SQL statements,
    which a baseline of the combined results reads (baseline/, issue 25). A shard runs each test once."""
    for name in ("events-all.jsonl", "events-unit.jsonl", "events-integration.jsonl"):
        parts = [folder / name for folder in sources if (folder / name).is_file()]
        if parts:
            text = "".join(p.read_text(encoding="utf-8", errors="replace").rstrip("\n") + "\n" for p in parts)
            write_atomically({target / name: text})


def merge_junit(sources: Sequence[Path], target: Path) -> None:
    """The shards' test suites under one ``testsuites``; a collection error every shard reported, once."""
    root = ET.Element("testsuites")
    seen_errors = set()
    found = False
    for source in sources:
        if not source.is_file():
            continue
        found = True
        tree = ET.parse(source).getroot()
        suites = [tree] if tree.tag == "testsuite" else list(tree.iter("testsuite"))
        for suite in suites:
            copy = ET.SubElement(root, "testsuite", dict(suite.attrib))
            for child in suite:
                if child.tag == "testcase" and _case_kind(child) is None and child.find("error") is not None:
                    key = (child.get("classname"), child.get("name"))
                    if key in seen_errors:
                        continue  # every shard collects every module: its collection error is one error
                    seen_errors.add(key)
                copy.append(child)
            recount(copy)
    if found:
        text = ET.tostring(root, encoding="unicode")
        write_atomically({target: '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n"})


def _case_kind(case: ET.Element) -> Optional[str]:
    for prop in case.iter("property"):
        if prop.get("name") == KIND_PROPERTY:
            return prop.get("value")
    return None




# ------------------------------------------------------------------ coverage


def merge_coverage(inputs: Sequence[Input], project: Project, target: Path) -> None:
    """``.coverage.unit`` and ``.coverage.integration`` of every shard, combined by coverage.py.

    Each shard measured absolute paths in the folder it ran in; a shard that ran elsewhere (its
    summary's repository root differs) has its paths mapped onto this project's through coverage's
    own ``[paths]`` aliases, added to the project's. The data files are copied first: coverage.py's
    combine deletes the files it read, and the inputs are never changed.
    """
    import coverage

    here = project.repo_root.resolve()
    elsewhere = sorted({str(Path(i.summary.project.repo_root)) for i in inputs} - {str(here)})
    for kind in PASSES:
        copies: List[str] = []
        for number, given in enumerate(inputs, 1):
            source = given.path / f".coverage.{kind}"
            if source.is_file():
                copied = target / f".coverage.{kind}.input{number}"
                shutil.copyfile(source, copied)
                copies.append(str(copied))
        data_file = target / f".coverage.{kind}"
        data_file.unlink(missing_ok=True)
        if not copies:
            continue
        config: Any = str(project.coverage_config) if project.coverage_config else False
        cov = coverage.Coverage(data_file=str(data_file), config_file=config)
        if elsewhere:
            paths: Dict[str, List[str]] = dict(cov.get_option("paths") or {})  # type: ignore[arg-type]
            paths["async_test_shards"] = [str(here) + os.sep] + [root.rstrip(os.sep) + os.sep for root in elsewhere]
            cov.set_option("paths", paths)
        cov.combine(copies, strict=True)
        cov.save()
        for name in copies:  # combine deleted them already; a failed one may have left some
            Path(name).unlink(missing_ok=True)


# ------------------------------------------------------------------ summary


def merge_pass(kind: str, summaries: Sequence[Summary]) -> Pass:
    """One pass of every shard as one: counts and times summed, failures listed once, the worst status."""
    passes = [getattr(s.passes, kind) for s in summaries]
    counts: Dict[str, int] = dict.fromkeys(Counts().to_json(), 0)
    for p in passes:
        for key, value in p.counts.to_json().items():
            counts[key] += value
    failures: List[Failure] = []
    seen = set()
    for s in summaries:
        for f in getattr(s.passes, kind).failures:
            if f.when == "collect":
                key = (f.file, f.message)
                if key in seen:
                    continue
                seen.add(key)
            failures.append(f)
    # A collection error is counted by every shard (each collects every module): once in the whole.
    reports = _collection_reports(kind, summaries)
    counts["errors"] -= sum(n - 1 for n in reports.values() if n > 1)
    selected = [p for p in passes if p.selected]
    status = min((p.status for p in passes), key=STATUS_ORDER.index) if passes else "not-run"
    if status == "empty" and any(p.status == "passed" for p in passes):
        status = "passed"
    codes = [p.exit_code for p in selected if p.exit_code is not None]
    exit_code = (next((c for c in codes if c not in (0, 5)), None) or (0 if 0 in codes else (5 if codes else None)))
    slowest = sorted((t for p in passes for t in p.slowest), key=lambda t: (-t.duration_seconds, t.nodeid))[:SLOWEST]
    warnings = tuple(dict.fromkeys(w for p in passes for w in p.warnings))
    reasons = [f"{_name(s)}: {getattr(s.passes, kind).status_reason}" for s in summaries
               if getattr(s.passes, kind).status_reason]
    return Pass(
        kind=kind, selected=bool(selected), status=status, exit_code=exit_code,
        duration_seconds=round(sum(p.duration_seconds for p in passes), 3), counts=Counts(**counts),
        deselected=_deselected(passes, summaries), failures=tuple(failures),
        slowest=tuple(SlowTest(t.nodeid, t.duration_seconds) for t in slowest), warnings=warnings,
        status_reason="; ".join(reasons) or None,
    )


def _collection_reports(kind: str, summaries: Sequence[Summary]) -> Dict[Tuple[str, str], int]:
    """How many shards' ``kind`` pass counted each collection error (listed under one pass, ``passes``)."""
    counted: Dict[Tuple[str, str], int] = {}
    for s in summaries:
        for p in s.passes:
            for f in p.failures:
                if f.when == "collect" and kind in (f.passes or (f.kind,)):
                    counted[(f.file, f.message)] = counted.get((f.file, f.message), 0) + 1
    return counted


def _deselected(passes: Sequence[Pass], summaries: Sequence[Summary]) -> int:
    """What an unsharded run of the pass would have deselected (the other kind, -k, -m).

    Each of N shards deselects those D tests (split among them) plus every collected test the other
    shards own: summed, D + (N-1)*C for the C tests each shard collected (its ``shard.collected``),
    in one session and in two processes alike. Without that count (xdist's controller collects
    nothing) the tests the pass ran stand in for C; whole runs are summed.
    """
    n = len(passes)
    shards = [s.shard for s in summaries]
    summed = sum(p.deselected for p in passes)
    if any(s is None for s in shards):
        return summed
    collected = {s.collected for s in shards if s is not None}
    if len(collected) == 1 and None not in collected:
        return max(0, summed - (n - 1) * int(collected.pop() or 0))
    return max(0, (summed - (n - 1) * sum(p.counts.total for p in passes)) // n)


def _thresholds(options: CombineOptions, summaries: Sequence[Summary]) -> Tuple[PerFigure[float], PerFigure[str]]:
    """Each figure's minimum: this command's --fail-under*, else what the (first) shard resolved and recorded."""
    recorded = summaries[0].coverage
    values: Dict[str, Optional[float]] = {}
    origins: Dict[str, Optional[str]] = {}
    for key, flag in FIGURE_FLAGS.items():
        given = options.fail_under.get(key)
        if given is not None:
            values[key], origins[key] = given, flag
        else:
            values[key] = getattr(recorded.thresholds, key)
            sources = recorded.threshold_sources
            origins[key] = getattr(sources, key) if sources is not None and values[key] is not None else None
    return PerFigure(**values), PerFigure(**origins)


def _below(coverage: Coverage, thresholds: PerFigure[float], sources: PerFigure[str]) -> List[str]:
    below = []
    for key, limit in thresholds.items():
        measured = coverage.figure(key)
        if limit is not None and (measured is None or measured.percent < limit):
            got = f"{measured.percent:.2f}%" if measured else "no data"
            origin = getattr(sources, key)
            shown = "" if origin in (None, FIGURE_FLAGS[key]) else f" ({origin})"
            below.append(f"{key} coverage {got} < {limit:g}%{shown}")
    return below


def _exit_code(summaries: Sequence[Summary], passes: Passes, below: List[str]) -> int:
    codes = {s.exit.code for s in summaries}
    for code in (130, 3, 2):
        if code in codes:
            return code
    if 1 in codes or any(p.status in ("failed", "error") for p in passes if p.selected):
        return 1
    if below:
        return 4
    if all(p.status == "empty" for p in passes if p.selected):
        return 5
    return 0


def _reason(code: int, summaries: Sequence[Summary], passes: Passes, below: List[str]) -> str:
    if code == 4:
        return "; ".join(below)
    if code in (130, 3, 2):
        return "; ".join(f"{_name(s)}: {s.exit.reason}" for s in summaries if s.exit.code == code)
    if code == 1:
        return "tests failed" + "".join(f"; {p.kind} pass: {p.status_reason}" for p in passes if p.status_reason)
    if code == 5:
        return "no tests collected in any shard"
    return "all selected tests passed"


def _print(console: Any, summary: Summary) -> None:
    console.rule("async-test combine")
    for run in summary.shards or ():
        name = f"shard {run.index}/{run.total}" if run.index is not None else "run"
        console.line(f"  {name:<12} {run.tests:>5} tests {run.duration_seconds:>8.1f}s  exit {run.exit_code}  "
                     f"{run.results_dir}")
    cov = summary.coverage
    console.line(f"{'pass':<12} {'status':<12} {'tests':>5} {'passed':>6} {'failed':>6} {'errors':>6} "
                 f"{'skipped':>7} {'coverage':>9}")
    for kind, p in summary.passes.items():
        n = p.counts
        console.line(f"{kind:<12} {p.status:<12} {n.total:>5} {n.passed:>6} {n.failed:>6} {n.errors:>6} "
                     f"{n.skipped:>7} {pct(cov.figure(kind)):>9}")
    if cov.combined:
        console.line(f"{'combined':<12} {'':<12} {'':>5} {'':>6} {'':>6} {'':>6} {'':>7} {pct(cov.combined):>9}")
    limits = [f"{k} {v:g}%" for k, v in cov.thresholds.items() if v is not None]
    if limits:
        console.line(f"coverage thresholds checked on the combined figures: {', '.join(limits)}"
                     f"{': missed' if cov.below_threshold else ': met'}")
    if cov.error:
        console.line(f"coverage could not be combined: {cov.error}", "red")
    style = "green" if summary.exit.code == 0 else "red"
    console.line(f"result: {summary.exit.reason} (exit {summary.exit.code}); details in "
                 f"{summary.project.results_dir}/summary.md", style)

