"""Coverage carried forward from the base's map for the tests an ``--affected`` run left out (Codecov's carryforward).

An affected run measures only the tests it ran, so its figures are lower than the suite's and no
threshold can be checked on them. The map of the base (testmap.py) records which lines each test ran,
per pass. A test the run left out is, by the selection's premise, one the change cannot reach: on the
head it runs the same lines as on the base. So, per file and per pass, the whole suite's lines are
exactly

    the lines the run measured  UNION  the lines the left-out tests of that pass ran on the base

with the base's line numbers moved to the head's. A file the diff modified has its left-out tests'
lines moved through git's hunks (``remap``): a line inside a hunk is dropped (the selection ran every
test that ran it: it is the run's to measure), a line after a hunk moves by what the hunk added or
removed. So a one-line change in a module the other tests also reach keeps the suite's figure: carried
whole, it was measured too low, and a threshold the full suite meets failed. A file added, deleted or
whose hunks are unknown is never carried (it keeps the run's figure, lower than the full suite's
at worst, never higher). A file no test of the run touched gets the base's figures whole; a file both
touched gets the union.

Every figure is recomputed from the files' line sets, the way the run's own figures are computed
(coverage_reports.py): the combined one over every file, a pass's over every file with a ``source``,
else over the files the pass ran (or nothing ran). Before using them, the run's own figures are
recomputed the same way: if they differ (branch coverage counts branches too) nothing is carried,
and the caller says why, as it does for a map without line data (recorded by an older harness).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from .summary.model import Coverage, CoverageFigure, FileCoverage
from .testmap import TestMap

PASSES = ("unit", "integration")


@dataclass(frozen=True)
class Carried:
    coverage: Coverage
    files: int  # files whose figure holds lines carried from the base
    line: str  # "12 files carried forward from the baseline (abc1234)"


def _percent(covered: int, statements: int) -> float:
    return round(100.0 * covered / statements, 2) if statements else 100.0


def _sets(f: FileCoverage) -> Tuple[Set[int], Set[int], Set[int]]:
    """(statements, unit lines, integration lines) of one file."""
    unit, integration = set(f.unit_only) | set(f.both), set(f.integration_only) | set(f.both)
    return unit | integration | set(f.neither), unit, integration


Hunk = Tuple[int, int, int, int]  # git's (base start, base count, head start, head count)


def remap(lines: Iterable[int], hunks: Sequence[Hunk]) -> Set[int]:
    """The base's line numbers as the head's, through a ``-U0`` diff's hunks; lines a hunk replaced or
    removed are dropped. ``-a,0 +c,d`` inserts after base line ``a``; ``-a,b +c,0`` removes ``a..a+b-1``."""
    ordered = sorted(hunks)
    out: Set[int] = set()
    for n in lines:
        shift = 0
        for start, count, _, added in ordered:
            last = start + count - 1 if count else start  # the last base line at or before the hunk's end
            if count and start <= n <= last:
                break  # replaced or removed
            if n > last:
                shift += added - count
        else:
            out.add(n + shift)
    return out


def figures(files: Iterable[FileCoverage], every_file: bool) -> Dict[str, CoverageFigure]:
    """The unit, integration and combined figures of these files, as the run computes its own."""
    totals = {k: [0, 0] for k in (*PASSES, "combined")}
    for f in files:
        statements, unit, integration = _sets(f)
        ran = {"unit": unit, "integration": integration}
        for kind in PASSES:
            if every_file or ran[kind] or not (unit or integration):
                totals[kind][0] += len(ran[kind])
                totals[kind][1] += len(statements)
        totals["combined"][0] += len(unit | integration)
        totals["combined"][1] += len(statements)
    return {k: CoverageFigure(_percent(c, s), c, s) for k, (c, s) in totals.items()}


Extra = Dict[str, Dict[str, Set[int]]]  # file -> pass -> the left-out tests' lines, in the head's numbers


def carry(coverage: Coverage, testmap: TestMap, left_out: Iterable[str], changed: Iterable[str],
          every_file: bool, remaps: Optional[Mapping[str, Sequence[Hunk]]] = None) -> Union[Carried, str]:
    """The run's coverage with the left-out tests' lines added from the map; or why it cannot be (one line).

    ``changed``: files never carried; ``remaps``: modified files whose base lines move through these hunks."""
    extra = extra_lines(testmap, left_out, changed, remaps)
    if isinstance(extra, str):
        return extra
    return apply(coverage, extra, testmap.base_commit, every_file)


def extra_lines(testmap: TestMap, left_out: Iterable[str], changed: Iterable[str],
                remaps: Optional[Mapping[str, Sequence[Hunk]]] = None) -> Union[Extra, str]:
    """What the left-out tests ran on the base, per file and pass, at the head's line numbers; or why not.

    A shard computes it (it has the map and the diff) and ``async-test combine`` applies it to the merged
    shards' coverage (``apply``): the map and the repository are not needed where the shards meet."""
    remaps = remaps or {}
    if not testmap.has_lines:
        return ("the base's map has no line data (recorded by an older async-test: the next run on the base "
                "branch records it)")
    index = {nodeid: i for i, nodeid in enumerate(testmap.tests)}
    out = {index[n] for n in left_out if n in index}
    moved = set(changed)
    extra: Extra = {}
    if not out:
        return extra
    try:
        for path in testmap.files:
            if path in moved:
                continue
            lines = testmap.lines_of(path, out)
            if path in remaps:
                lines = {kind: remap(found, remaps[path]) for kind, found in lines.items()}
            if any(lines.values()):
                extra[path] = {kind: set(lines.get(kind, ())) for kind in PASSES}
    except (TypeError, ValueError, AttributeError) as exc:  # a damaged map from a cache: nothing carried
        return f"the base's map has damaged line data ({type(exc).__name__})"
    return extra


def apply(coverage: Coverage, extra: Extra, base_commit: Optional[str], every_file: bool) -> Union[Carried, str]:
    """The coverage with ``extra`` added to each file's lines; or why it cannot be (one line)."""
    if coverage.combined is None or not coverage.files:
        return "the run measured no coverage to add to"
    own = figures(coverage.files, every_file)
    for kind in (*PASSES, "combined"):
        measured = coverage.figure(kind)
        if measured is not None and (measured.covered_lines, measured.statements, measured.percent) != (
                own[kind].covered_lines, own[kind].statements, own[kind].percent):
            return (f"the run's {kind} figure is not the line count of its files (branch coverage counts branches, "
                    "which the map does not record)")
    reported = {f.path for f in coverage.files}
    unreported = sorted(p for p in extra if p not in reported)
    if unreported:  # the full suite would report it; without its statements no figure can be right
        return (f"{unreported[0]} is run only by tests left out, and the run's report does not list it "
                "(configure a coverage source, e.g. --cov-source, so every file is reported)")
    files: List[FileCoverage] = []
    count = 0
    for f in coverage.files:
        if f.path not in extra:
            files.append(f)
            continue
        statements, unit, integration = _sets(f)
        add_unit = (extra[f.path].get("unit", set()) & statements) - unit
        add_integration = (extra[f.path].get("integration", set()) & statements) - integration
        if not (add_unit or add_integration):
            files.append(f)
            continue
        unit, integration = unit | add_unit, integration | add_integration
        files.append(FileCoverage(
            path=f.path, statements=len(statements),
            percent=_percent(len(unit | integration), len(statements)),
            unit_only=tuple(sorted(unit - integration)), integration_only=tuple(sorted(integration - unit)),
            both=tuple(sorted(unit & integration)), neither=tuple(sorted(statements - unit - integration)),
            carried_forward=True))
        count += 1
    totals = figures(files, every_file)
    commit = (base_commit or "")[:7] or "unknown commit"
    line = (f"{count} file{'' if count == 1 else 's'} carried forward from the baseline ({commit})" if count else
            f"nothing to carry forward from the baseline ({commit}): the tests left out ran no line the run missed, "
            "so its figures are the whole suite's")
    return Carried(replace(coverage, unit=totals["unit"] if coverage.unit is not None else None,
                           integration=totals["integration"] if coverage.integration is not None else None,
                           combined=totals["combined"], files=tuple(files)), count, line)
