"""Which shard runs which test: the assignment both the plugin and the runner rely on.

``async-test run --shard K/N`` runs one of N disjoint parts of a suite. The plugin selects the
part inside the pytest session (both passes see the same collection and so the same part); the
runner reads and writes the durations that balance the parts; the benchmark calls ``assign``
directly. All of them must agree, which is why the algorithm lives here, a standard-library leaf
any package may import, and why it is a pure function of its inputs: the same node ids, durations
and shard count give the same parts on every machine (no hashing of paths, no clock, no set order).

The unit of assignment is a test module (its file) by default: tests of one module often share a
module- or class-scoped fixture, and splitting them would set that fixture up in several shards
(slower at best, wrong when the fixture's side effects are shared). ``split_modules`` makes every
test its own unit, for suites that know their modules are independent.

Balance is greedy longest-processing-time-first: units in decreasing order of their estimated
time, each to the shard with the least so far (ties: the lowest shard; equal units: by name).
A unit's time is the sum of its tests' recorded durations; a test without one is estimated at the
median recorded per-test time, and with nothing recorded every test counts the same, so whole
files are dealt by their size (plain round robin when the files are of one size).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

DURATIONS_FILE = ".async-test-durations.json"  # at the project root; a user may commit it
RESULTS_DURATIONS = "durations.json"  # in every results folder: the run's own measurements
DURATIONS_FORMAT = "async-test-durations"
DURATIONS_VERSION = 1
DIGITS = 6  # durations are stored rounded: the same file gives the same sums everywhere


class ShardError(ValueError):
    """A shard or durations file that cannot be used; the message is one paragraph with the fix."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``total`` (1-based, as written on the command line: ``2/3``)."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N; anything else raises ShardError saying what is allowed."""
    match = _SHARD.fullmatch(text or "")
    if match:
        index, total = int(match.group(1)), int(match.group(2))
        if 1 <= index <= total:
            return Shard(index, total)
        problem = ("shards are numbered from 1" if index < 1 else
                   "there are no shards" if total < 1 else f"there are only {total} shard(s)")
    else:
        problem = "it is not two whole numbers separated by a slash"
    raise ShardError(
        f"--shard {text!r} is not a shard: {problem}. Give K/N, this run's shard K of N shards, with "
        f"1 <= K <= N, e.g. --shard 1/3, --shard 2/3 and --shard 3/3 on three machines; every test runs in "
        f"exactly one of them."
    )


def module_of(nodeid: str) -> str:
    """The file a test belongs to (``tests/test_a.py::TestX::test_y[1]`` -> ``tests/test_a.py``)."""
    return nodeid.split("::", 1)[0]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 1.0
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def estimates(nodeids: Sequence[str], durations: Mapping[str, float]) -> Dict[str, float]:
    """Each test's expected time: its recorded duration, else the median of the recorded ones.

    Only durations of tests being assigned count towards the median: a file of an old suite's
    tests should not speak for today's. With none recorded every test is 1.0.
    """
    known = {n: float(durations[n]) for n in nodeids if n in durations}
    fallback = _median(list(known.values())) if known else 1.0
    if fallback <= 0:
        fallback = 1.0 if not any(v > 0 for v in known.values()) else min(v for v in known.values() if v > 0)
    return {n: known.get(n, fallback) for n in nodeids}


def units(nodeids: Iterable[str], split_modules: bool = False) -> Dict[str, List[str]]:
    """Tests grouped into what is assigned whole: modules, or single tests with ``split_modules``."""
    grouped: Dict[str, List[str]] = {}
    for nodeid in nodeids:
        grouped.setdefault(nodeid if split_modules else module_of(nodeid), []).append(nodeid)
    return grouped


def assign(nodeids: Sequence[str], durations: Mapping[str, float], total: int,
           split_modules: bool = False) -> Dict[str, int]:
    """Every node id mapped to its shard, 1..``total``: greedy longest-first over the units.

    Deterministic: units are ordered by estimated time, then by name (never by input order, so two
    processes that collected in a different order still agree); ties between shards go to the lowest.
    """
    if total < 1:
        raise ShardError(f"there must be at least one shard, not {total}")
    unique = sorted(set(nodeids))
    times = estimates(unique, durations)
    grouped = units(unique, split_modules)
    # math.fsum: the same total whatever order the tests are added in.
    cost = {name: math.fsum(times[n] for n in tests) for name, tests in grouped.items()}
    so_far = [(0.0, shard) for shard in range(1, total + 1)]
    placed: Dict[str, int] = {}
    for name in sorted(grouped, key=lambda u: (-cost[u], u)):
        load, shard = min(so_far)
        so_far[shard - 1] = (load + cost[name], shard)
        for nodeid in grouped[name]:
            placed[nodeid] = shard
    return placed


def loads(placed: Mapping[str, int], times: Mapping[str, float], total: int) -> List[float]:
    """Each shard's summed time (for the benchmark and the plugin's header line)."""
    sums: List[List[float]] = [[] for _ in range(total)]
    for nodeid, shard in placed.items():
        sums[shard - 1].append(times.get(nodeid, 0.0))
    return [math.fsum(s) for s in sums]


# ------------------------------------------------------------------ the durations file


def read_durations(path: Path) -> Dict[str, float]:
    """The durations in ``path`` (node id -> seconds); raises ShardError when it is not one.

    Format: ``{"format": "async-test-durations", "version": 1, "durations": {NODEID: SECONDS}}``;
    a plain ``{NODEID: SECONDS}`` object is accepted too (pytest-split's ``.test_durations``).
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShardError(f"cannot read the durations file {path} ({exc.strerror or exc}). Give a readable "
                         f"file with --durations-file, or none (shards are then balanced by test count).") from None
    except ValueError as exc:
        raise ShardError(f"the durations file {path} is not JSON ({exc}). Delete it, or replace it with "
                         f"the {RESULTS_DURATIONS} of a recent run's results folder.") from None
    if isinstance(doc, dict) and doc.get("format") == DURATIONS_FORMAT:
        doc = doc.get("durations")
    if not isinstance(doc, dict):
        raise ShardError(f"the durations file {path} holds no durations (an object of test id -> seconds). "
                         f"Replace it with the {RESULTS_DURATIONS} of a recent run's results folder.")
    return {str(k): float(v) for k, v in doc.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0}


def durations_text(durations: Mapping[str, float]) -> str:
    """The durations file's text: sorted, rounded, one test a line (small diffs when committed)."""
    body = {k: round(float(v), DIGITS) for k, v in sorted(durations.items())}
    doc = {"format": DURATIONS_FORMAT, "version": DURATIONS_VERSION, "durations": body}
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


def merge_durations(*maps: Mapping[str, float]) -> Dict[str, float]:
    """Several runs' durations in one; a later map wins for a test both hold."""
    merged: Dict[str, float] = {}
    for durations in maps:
        merged.update(durations)
    return merged


def balance(placed: Mapping[str, int], times: Mapping[str, float], total: int) -> Tuple[float, float]:
    """(slowest shard, ideal = sum / total): their ratio is how far from perfect the split is."""
    sums = loads(placed, times, total)
    ideal = math.fsum(sums) / total if total else 0.0
    return (max(sums) if sums else 0.0), ideal


def optional_shard(text: Optional[str]) -> Optional[Shard]:
    return None if text in (None, "") else parse_shard(str(text))
