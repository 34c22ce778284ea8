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

import hashlib
import heapq
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .untrusted_files import MIB, UnusableFile, read_regular

DURATIONS_FILE = ".async-test-durations.json"  # at the project root; a user may commit it
RESULTS_DURATIONS = "durations.json"  # in every results folder: the run's own measurements
DURATIONS_FORMAT = "async-test-durations"
DURATIONS_VERSION = 1
DIGITS = 6  # durations are stored rounded: the same file gives the same sums everywhere
# Far above any CI's parallelism (GitHub Actions runs at most 256 jobs of a matrix); --shard 1/100000000 was
# accepted and ran for half a minute into a MemoryError. Refused at once above this.
MAX_SHARDS = 10_000
# A recorded duration above a day is not a measurement (1e308 overflowed every sum): such values are dropped.
MAX_SECONDS = 86_400.0
MAX_DURATIONS_BYTES = 64 * MIB  # a million test ids of 60 characters take about 80 MiB... with a margin below
MAX_DEPTH = 32  # the format nests two deep; 100,000 nested brackets were a RecursionError traceback


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
        # A number of thousands of digits is not parsed (int() refuses beyond 4,300): it is "too many" anyway.
        index, total = (int(g) if len(g) <= 9 else MAX_SHARDS * 10 for g in match.groups())
        if 1 <= index <= total <= MAX_SHARDS:
            return Shard(index, total)
        problem = ("shards are numbered from 1" if index < 1 else
                   "there are no shards" if total < 1 else
                   f"there are only {total} shard(s)" if index > total else
                   f"at most {MAX_SHARDS:,} shards are allowed (each shard is a machine or a CI job)")
    else:
        problem = "it is not two whole numbers separated by a slash"
    shown = text if len(text or "") <= 40 else text[:37] + "..."
    raise ShardError(
        f"--shard {shown!r} is not a shard: {problem}. Give K/N, this run's shard K of N shards, with "
        f"1 <= K <= N <= {MAX_SHARDS:,}, e.g. --shard 1/3, --shard 2/3 and --shard 3/3 on three machines; every "
        f"test runs in exactly one of them."
    )


def fingerprint(nodeids: Iterable[str]) -> str:
    """A short digest of the collected test ids: equal for every shard of one suite, whatever their order.

    Recorded in each shard's summary.json (``shard.fingerprint``), so ``async-test combine`` can tell
    shards of one collection from shards of two projects (or of two commits) that happen to agree
    on N and on their number of tests.
    """
    digest = hashlib.sha256()
    for nodeid in sorted(set(nodeids)):
        digest.update(nodeid.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:16]


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
    if total > MAX_SHARDS:
        raise ShardError(f"at most {MAX_SHARDS:,} shards are allowed, not {total:,}")
    unique = sorted(set(nodeids))
    times = estimates(unique, durations)
    grouped = units(unique, split_modules)
    # math.fsum: the same total whatever order the tests are added in.
    cost = {name: math.fsum(times[n] for n in tests) for name, tests in grouped.items()}
    # A heap of (load, shard): the least loaded shard, the lowest on a tie, in log N per unit.
    so_far = [(0.0, shard) for shard in range(1, total + 1)]
    placed: Dict[str, int] = {}
    for name in sorted(grouped, key=lambda u: (-cost[u], u)):
        load, shard = heapq.heappop(so_far)
        heapq.heappush(so_far, (load + cost[name], shard))
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


def read_durations(path: Path, dropped: Optional[List[str]] = None) -> Dict[str, float]:
    """The durations in ``path`` (node id -> seconds); raises ShardError when it is not one.

    Format: ``{"format": "async-test-durations", "version": 1, "durations": {NODEID: SECONDS}}``;
    a plain ``{NODEID: SECONDS}`` object is accepted too (pytest-split's ``.test_durations``).
    The file is read as untrusted (a FIFO, a folder, a file above 64 MiB or nested deeper than
    ``MAX_DEPTH`` is refused); a value that is not a number of seconds from 0 to ``MAX_SECONDS``
    (negative, NaN, infinite, ``1e308``, true) is dropped, its test id appended to ``dropped``.
    """
    try:
        text = read_regular(path, MAX_DURATIONS_BYTES).decode("utf-8", "replace")
    except (OSError, UnusableFile) as exc:
        why = exc.strerror or exc if isinstance(exc, OSError) else exc
        raise ShardError(f"cannot read the durations file {path} ({why}). Give a readable "
                         f"file with --durations-file, or none (shards are then balanced by test count).") from None
    fix = f"Delete it, or replace it with the {RESULTS_DURATIONS} of a recent run's results folder."
    if _depth(text) > MAX_DEPTH:
        raise ShardError(f"the durations file {path} nests more than {MAX_DEPTH} levels deep (a durations file "
                         f"nests 2). {fix}")
    try:
        doc = json.loads(text)  # NaN and Infinity are read as such, then dropped as not finite
    except (ValueError, RecursionError) as exc:
        raise ShardError(f"the durations file {path} is not JSON ({_first_line(exc)}). {fix}") from None
    if isinstance(doc, dict) and doc.get("format") == DURATIONS_FORMAT:
        doc = doc.get("durations")
    if not isinstance(doc, dict):
        raise ShardError(f"the durations file {path} holds no durations (an object of test id -> seconds). "
                         f"Replace it with the {RESULTS_DURATIONS} of a recent run's results folder.")
    durations: Dict[str, float] = {}
    for key, value in doc.items():
        seconds = usable_seconds(value)
        if seconds is None:
            if dropped is not None:
                dropped.append(str(key))
        else:
            durations[str(key)] = seconds
    return durations


def usable_seconds(value: Any) -> Optional[float]:
    """``value`` as a duration, or None when it is not one: a number from 0 to ``MAX_SECONDS``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer of 400 digits
        return None
    return seconds if math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _depth(text: str) -> int:
    """How deep the JSON text's arrays and objects nest (brackets inside strings skipped), before parsing it."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def durations_text(durations: Mapping[str, float]) -> str:
    """The durations file's text: sorted, rounded, one test a line (small diffs when committed)."""
    # Only usable values: a duration a reader would drop (1e308, NaN) is never written for the next run.
    body = {k: round(seconds, DIGITS) for k, v in sorted(durations.items())
            if (seconds := usable_seconds(v)) is not None}
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
