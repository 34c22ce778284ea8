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

The inputs are read as untrusted and checked first (``combine_inputs``: one suite's parts, each
once, no test twice, damaged data exit 3, tests that did not report exit 1). They are only read
(coverage data is copied before coverage.py combines it, since its combine deletes what it read).
The combined folder is built in a temporary folder beside the output and moved into it, claimed
like a run's (``results_folder.claim``), only when complete.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .. import __version__
from ..affected import COUNTS_SUFFIX
from ..carryforward import Carried, apply
from ..sharding import RESULTS_DURATIONS, ShardError, durations_text, merge_durations, read_durations
from ..summary.format import pct
from ..summary.model import (
    TOOL_NAME,
    AffectedInfo,
    Counts,
    Coverage,
    Exit,
    Failure,
    InfrastructureError,
    Pass,
    Passes,
    PerFigure,
    ProjectPaths,
    ShardRun,
    SlowTest,
    Summary,
    Tool,
)
from ..testmap import MAP_FILE, MapError
from ..testmap import merge as merge_maps
from ..testmap import parse as parse_map
from ..testmap import write as write_map
from ..untrusted_files import MIB, UnusableFile, check_inside, open_regular, read_regular
from .affected_run import CARRY_LIMIT, SELECTION_FILE, read_carry
from .combine_inputs import (
    PASSES,
    CombineError,
    Input,
    check_no_test_twice,
    coverage_problems,
    is_collection_error,
    read_inputs,
    read_junit,
    shortfalls,
    suites,
)
from .coverage_reports import build_reports
from .project import Project, ProjectError, find_project
from .results import SLOWEST, write_summary
from .results_folder import TEMP_SUFFIX, ResultsDirError, check_claimable, claim, write_atomically
from .session import measures_source, recount

MAX_EVENTS_BYTES = 512 * MIB  # a test's event line is a few hundred bytes: millions of tests
MAX_COVERAGE_BYTES = 1 << 40  # coverage data is a SQLite file; only its kind and place are checked
FIGURE_FLAGS = {"unit": "--fail-under-unit", "integration": "--fail-under-integration", "combined": "--fail-under"}
EXIT_NAMES = {0: "ok", 1: "tests_failed", 2: "usage_error", 3: "infrastructure_error", 4: "coverage_below_threshold",
              5: "no_tests", 130: "interrupted"}
STATUS_ORDER = ("interrupted", "error", "failed", "passed", "empty", "not-run")  # the worst shard's wins

@dataclass
class CombineOptions:
    output: str
    inputs: List[str]
    html: bool = False
    html_include_tests: bool = False  # the test files in the HTML report and its total
    fail_under: Dict[str, Optional[float]] = field(default_factory=dict)
    project: Optional[str] = None  # where the sources are; default: the first shard's, if it is here
    cov_source: List[str] = field(default_factory=list)  # what the shards measured, if given to them


def combine(options: CombineOptions, out: Any = None) -> int:
    """Merge the folders; the exit code of the merged results (as ``async-test run``'s).

    Raises CombineError (exit 2) before anything is written. The combined folder is built in a
    temporary folder beside ``OUTPUT`` and moved into it only when complete: ``OUTPUT`` holds the
    previous results or the new ones, never a half-written mix (a damaged input once left one).
    """
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
    problems = read_junit(inputs)
    check_no_test_twice(inputs)
    try:
        check_claimable(target, OUR_OUTPUTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        building = _building_folder(target)
    except ResultsDirError as exc:
        raise CombineError(str(exc)) from None
    except OSError as exc:
        raise CombineError(f"cannot write beside the combined folder {target}, nor in the temporary folder "
                           f"({exc.strerror or exc}): combine builds it in a temporary folder first. Give a folder "
                           "in a writable place.") from None
    try:
        try:
            code, summary, notes = _combine(options, inputs, project, target, building, problems, began)
        except OSError as exc:  # a full disk: nothing was moved into OUTPUT
            console.line(f"async-test: could not write the combined results beside {target} "
                         f"({exc.strerror or exc}); {target} is unchanged. Free space there and combine again", "red")
            return 3
        try:
            folder = claim(target, OUR_OUTPUTS)
        except ResultsDirError as exc:
            raise CombineError(str(exc)) from None
        try:
            _move_into(building, target)
        except OSError as exc:
            console.line(f"async-test: could not move the combined results into {target} ({exc.strerror or exc}); "
                         "free space there and combine again", "red")
            return 3
        finally:
            folder.release()
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _print(console, summary, notes)
    return code


def _read_inputs(options: CombineOptions) -> List[Input]:
    return read_inputs(options.inputs)


def _building_folder(target: Path) -> Path:
    """Where the combined folder is built before it is moved in: beside ``target`` (one file system, each
    move a rename), else in the temporary folder, when only ``target`` itself may be written (the image's
    unprivileged account in a root-owned workspace is handed that one folder): moved in by copying."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent))
    except PermissionError:
        return Path(tempfile.mkdtemp(prefix=f"async-test-combine-{target.name}.", suffix=TEMP_SUFFIX))


def _move_into(building: Path, target: Path) -> None:
    """Every file built, into ``target`` (claimed: the previous results removed); the summary last."""
    last = ("summary.md", "summary.json")
    for name in sorted(os.listdir(building), key=lambda n: (n in last, last.index(n) if n in last else 0, n)):
        try:
            os.replace(building / name, target / name)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # OUTPUT is a mount point of its own: copy across
                raise
            shutil.move(str(building / name), str(target / name))


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


def _combine(options: CombineOptions, inputs: List[Input], project: Project, target: Path, building: Path,
             problems: List[str], began: float) -> Tuple[int, Summary, List[str]]:
    """Write the combined results into ``building`` (to become ``target``); its exit code and summary, and
    lines for the console.

    ``problems`` are data that could not be read (exit 3, recorded as the infrastructure error);
    more are added here: coverage data that cannot be used, a durations file that is not a file.
    """
    problems = list(problems)
    for kind in PASSES:
        merge_junit([i.junit[kind] for i in inputs if kind in i.junit], building / f"junit-{kind}.xml")
    merge_events([i.path for i in inputs], building, problems)
    summaries = [i.summary for i in inputs]
    phases: Dict[str, float] = {}
    coverage = Coverage()
    if any(os.path.lexists(i.path / f".coverage.{kind}") for i in inputs for kind in PASSES):
        started = time.monotonic()
        unusable = coverage_problems(inputs)
        try:
            unusable += merge_coverage(inputs, project, building)
            if not unusable:
                coverage = build_reports(building, project, html=options.html,
                                         html_include_tests=options.html_include_tests)
        except Exception as exc:  # a full disk, a data file coverage.py gave up on: recorded, exit 3
            unusable.append(f"the coverage reports could not be made ({type(exc).__name__}: {exc})")
        if unusable:
            # No figures rather than figures silently too low (a threshold or badge would take them for true).
            _remove_coverage(building)
            coverage = Coverage(error="; ".join(unusable))
            problems += unusable
        phases["coverage"] = round(time.monotonic() - started, 3)
    else:
        problems += coverage_problems(inputs)
    durations = merge_durations(*[_durations(i, problems) for i in inputs])
    if durations:
        write_atomically({building / RESULTS_DURATIONS: durations_text(durations)})
    thresholds, sources = _thresholds(options, summaries)
    map_line = _merge_maps(inputs, building)
    affected = _affected(summaries)
    if affected is not None and not affected.run_all:
        _keep_left_out(inputs, building)
        coverage, affected = _carry_forward(inputs, coverage, affected, project)
        if not affected.coverage_carried:  # the figures cover only the tests that ran
            thresholds, sources = PerFigure(), PerFigure()
    below = _below(coverage, thresholds, sources)
    passes = Passes(*(merge_pass(kind, summaries) for kind in PASSES))
    missing = shortfalls(inputs)
    code = _exit_code(summaries, passes, below, problems, missing)
    reason = _reason(code, summaries, passes, below, problems, missing)
    slowest_shard = max(s.duration_seconds for s in summaries)
    phases.update({f"{kind}_pass": round(sum(s.phases.get(f"{kind}_pass", 0.0) for s in summaries), 3)
                   for kind in PASSES})
    phases["combine"] = round(time.monotonic() - began, 3)
    phases["total"] = round(slowest_shard, 3)  # the shards ran side by side: the slowest is the wall time
    first = summaries[0]
    infra = next((replace(s.infrastructure_error, message=f"{_name(s)}: {s.infrastructure_error.message}")
                  for s in summaries if s.infrastructure_error is not None), None)
    if problems and infra is None:
        infra = InfrastructureError("combine", "; ".join(problems))
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
        affected=affected,
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
    write_summary(building, summary)  # OSError: nothing is moved into OUTPUT (cli: exit 3, one paragraph)
    return code, summary, [f"async-test: {map_line}"] if map_line else []


def _merge_maps(inputs: Sequence[Input], building: Path) -> Optional[str]:
    """The shards of a --record-map run each recorded the map of their own tests: one map of all of them
    (testmap.merge), which the baseline stores (the action's push through a sharded matrix); or why not.
    None when no shard recorded one."""
    present = [i for i in inputs if os.path.lexists(i.path / MAP_FILE)]
    if not present:
        return None
    if len(present) != len(inputs):
        return f"test map not combined: {len(inputs) - len(present)} of the {len(inputs)} shards recorded none"
    maps = []
    for i in present:
        try:
            maps.append(parse_map(read_regular(i.path / MAP_FILE, CARRY_LIMIT).decode("utf-8"), i.path / MAP_FILE))
        except (MapError, UnusableFile, OSError, UnicodeDecodeError) as exc:
            return f"test map not combined: {exc}"
    merged = merge_maps(maps)
    if isinstance(merged, str):
        return f"test map not combined: {merged}"
    write_map(merged, building / MAP_FILE)
    return f"test map combined: {len(merged.tests)} tests, {len(merged.files)} files ({MAP_FILE})"


NOT_CARRIED = "coverage not carried forward: {why}; it covers only the tests that ran, and no threshold is checked"


def _affected(summaries: Sequence[Summary]) -> Optional[AffectedInfo]:
    """What the shards of an ``--affected`` run ran, together. The plugin selects the affected tests
    before the shard splits them, so every shard counted the same selection; the shards' coverage is
    merged here, without the base's (each shard's note said so): no threshold is checked on it."""
    infos = [s.affected for s in summaries]
    if not infos or any(i is None for i in infos):
        return None
    first = infos[0]
    assert first is not None
    if first.run_all:
        return replace(first, coverage_line=None, coverage_carried=None, carried_forward_files=None)
    return replace(first, coverage_line=None, coverage_carried=False, carried_forward_files=None)


def _keep_left_out(inputs: Sequence[Input], building: Path) -> None:
    """The tests the selection left out (the same in every shard: it selects before the shard splits),
    so that a comparison of the combined results with the base does not call them removed."""
    name = SELECTION_FILE + COUNTS_SUFFIX
    try:
        write_atomically({building / name: read_regular(inputs[0].path / name, CARRY_LIMIT).decode("utf-8")})
    except (UnusableFile, OSError, UnicodeDecodeError):
        pass  # a comparison then lists them as removed, as before: nothing else depends on it


def _carry_forward(inputs: Sequence[Input], coverage: Coverage, affected: AffectedInfo,
                   project: Project) -> Tuple[Coverage, AffectedInfo]:
    """The base's coverage of the tests the selection left out, added to the merged shards' (each shard
    wrote the same lines: affected_run.write_carry), as a run without --shard adds it to its own."""
    read = [read_carry(i.path) for i in inputs]
    problems = [f for f in read if isinstance(f, str)]
    found = [f for f in read if not isinstance(f, str)]
    carried: Union[Carried, str]
    if coverage.error is not None:
        carried = "the coverage reports failed"
    elif problems:
        carried = problems[0]
    elif any(f != found[0] for f in found[1:]):
        carried = "the shards wrote different lines to carry forward (maps or changes of different commits)"
    else:
        commit, extra = found[0]
        carried = apply(coverage, extra, commit, measures_source(project))
    if isinstance(carried, str):
        return coverage, replace(affected, coverage_line=NOT_CARRIED.format(why=carried), coverage_carried=False)
    line = f"coverage: {carried.line}; thresholds checked on the carried-forward totals"
    return carried.coverage, replace(affected, coverage_line=line, coverage_carried=True,
                                     carried_forward_files=carried.files)


def _remove_coverage(folder: Path) -> None:
    for name in ("coverage.xml", "coverage.json", "coverage-unit.xml", "coverage-integration.xml", ".coverage",
                 ".coverage.unit", ".coverage.integration"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "html", ignore_errors=True)


def _name(summary: Summary) -> str:
    return f"shard {summary.shard.index}/{summary.shard.total}" if summary.shard else summary.project.results_dir


def _durations(given: Input, problems: List[str]) -> Dict[str, float]:
    """A folder's durations.json (values that are not durations dropped); unreadable: a problem, none used."""
    path = given.path / RESULTS_DURATIONS
    if not os.path.lexists(path):
        return {}
    try:
        check_inside(path, given.path)
        return read_durations(path)
    except (UnusableFile, ShardError) as exc:
        problems.append(f"{given.name}: {exc}")
        return {}


# ------------------------------------------------------------------ JUnit


def merge_events(sources: Sequence[Path], target: Path, problems: List[str]) -> None:
    """Every folder's events files, one after another: each test's outcome, time and SQL statements,
    which a baseline of the combined results reads (baseline/, issue 25). A shard runs each test once.
    Read as untrusted, as every input of combine (a FIFO or a huge file is a problem, never a hang)."""
    for name in ("events-all.jsonl", "events-unit.jsonl", "events-integration.jsonl"):
        texts = []
        for folder in sources:
            path = folder / name
            if not path.exists() and not path.is_symlink():
                continue
            try:
                data = read_regular(path, MAX_EVENTS_BYTES, inside=folder)
            except (UnusableFile, OSError) as exc:
                problems.append(f"{path} could not be read ({exc}); the baseline of these results lacks its tests")
                continue
            texts.append(data.decode("utf-8", errors="replace").rstrip("\n") + "\n")
        if texts:
            write_atomically({target / name: "".join(texts)})


def merge_junit(sources: Sequence[ET.Element], target: Path) -> None:
    """The shards' test suites under one ``testsuites``; a collection error every shard reported, once."""
    if not sources:
        return
    root = ET.Element("testsuites")
    seen_errors = set()
    for tree in sources:
        for suite in suites(tree):
            copy = ET.SubElement(root, "testsuite", dict(suite.attrib))
            for child in suite:
                if child.tag == "testcase" and is_collection_error(child):
                    key = (child.get("classname"), child.get("name"))
                    if key in seen_errors:
                        continue  # every shard collects every module: its collection error is one error
                    seen_errors.add(key)
                copy.append(child)
            recount(copy)
    text = ET.tostring(root, encoding="unicode")
    write_atomically({target: '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n"})


# ------------------------------------------------------------------ coverage


def merge_coverage(inputs: Sequence[Input], project: Project, target: Path) -> List[str]:
    """``.coverage.unit`` and ``.coverage.integration`` of every shard, combined by coverage.py.

    Each shard measured absolute paths in the folder it ran in; a shard that ran elsewhere (its
    summary's repository root differs) has its paths mapped onto this project's through coverage's
    own ``[paths]`` aliases, added to the project's. The data files are copied first: coverage.py's
    combine deletes the files it read, and the inputs are never changed. Each copy is read before
    the combine: coverage.py skips a file it cannot read with a warning, which left the figures
    silently lower. Returns what could not be used, one line each (the caller records it, exit 3).
    """
    import coverage

    problems: List[str] = []
    here = project.repo_root.resolve()
    elsewhere = sorted({str(Path(i.summary.project.repo_root)) for i in inputs} - {str(here)})
    for kind in PASSES:
        copies: List[str] = []
        for number, given in enumerate(inputs, 1):
            source = given.path / f".coverage.{kind}"
            if not os.path.lexists(source):
                continue
            copied = target / f".coverage.{kind}.input{number}"
            try:
                _copy_regular(source, copied, given.path)
                data = coverage.CoverageData(basename=str(copied))
                data.read()
                data.measured_files()
            except (OSError, UnusableFile, coverage.CoverageException) as exc:
                why = _first_line(exc).replace(str(copied), str(source))
                problems.append(f"{given.name}: .coverage.{kind} cannot be read ({why})")
                copied.unlink(missing_ok=True)
                continue
            copies.append(str(copied))
        data_file = target / f".coverage.{kind}"
        data_file.unlink(missing_ok=True)
        if not copies or problems:
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
    for leftover in target.glob(".coverage.*.input*"):
        leftover.unlink(missing_ok=True)
    return problems


def _copy_regular(source: Path, copied: Path, folder: Path) -> None:
    """Copy a file that must be a regular file in ``folder`` (a FIFO hung, a link could read anything)."""
    fd = open_regular(source, MAX_COVERAGE_BYTES, inside=folder)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle, open(copied, "wb") as out:
            shutil.copyfileobj(handle, out, 1024 * 1024)
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (text.splitlines() or [type(exc).__name__])[0][:300]


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


def _exit_code(summaries: Sequence[Summary], passes: Passes, below: List[str], problems: List[str],
               missing: List[str]) -> int:
    """The worst of: an input's 130; unreadable data (ours or an input's 3); 2; a failed or missing test (1);
    a missed threshold (4); nothing run (5)."""
    codes = {s.exit.code for s in summaries}
    if 130 in codes:
        return 130
    if 3 in codes or problems:
        return 3
    if 2 in codes:
        return 2
    if 1 in codes or missing or any(p.status in ("failed", "error") for p in passes if p.selected):
        return 1
    if below:
        return 4
    if all(p.status == "empty" for p in passes if p.selected):
        return 5
    return 0


def _reason(code: int, summaries: Sequence[Summary], passes: Passes, below: List[str], problems: List[str],
            missing: List[str]) -> str:
    if code == 4:
        return "; ".join(below)
    if code == 3 and problems:
        theirs = [f"{_name(s)}: {s.exit.reason}" for s in summaries if s.exit.code == 3]
        return "infrastructure failure: " + "; ".join(theirs + problems)
    if code in (130, 3, 2):
        return "; ".join(f"{_name(s)}: {s.exit.reason}" for s in summaries if s.exit.code == code)
    if code == 1:
        failed = any(p.status in ("failed", "error") for p in passes if p.selected) or any(
            s.exit.code == 1 for s in summaries)
        lead = "tests failed" if failed or not missing else "tests did not report"
        return (lead + "".join(f"; {line}" for line in missing)
                + "".join(f"; {p.kind} pass: {p.status_reason}" for p in passes if p.status_reason))
    if code == 5:
        return "no tests collected in any shard"
    return "all selected tests passed"


def _print(console: Any, summary: Summary, notes: Sequence[str] = ()) -> None:
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
    for note in notes:
        console.line(note)
    if summary.affected is not None:
        console.line(f"affected: {summary.affected.line}")
        if summary.affected.coverage_line:
            console.line(f"affected: {summary.affected.coverage_line}", "yellow")
    limits = [f"{k} {v:g}%" for k, v in cov.thresholds.items() if v is not None]
    if limits:
        console.line(f"coverage thresholds checked on the combined figures: {', '.join(limits)}"
                     f"{': missed' if cov.below_threshold else ': met'}")
    if cov.error:
        console.line(f"coverage could not be combined: {cov.error}", "red")
    style = "green" if summary.exit.code == 0 else "red"
    console.line(f"result: {summary.exit.reason} (exit {summary.exit.code}); details in "
                 f"{summary.project.results_dir}/summary.md", style)

