"""What ``async-test combine`` is given, read as untrusted and checked before anything is merged.

A combined results folder is only worth its inputs, and each way they misled it is refused here:

* **not one suite** (exit 2): shards of two projects combined to exit 0 with six unit tests gone.
  Every folder must be of the same project (``path_in_repo``); shards must agree on N, on how many
  tests were collected and on the digest of their ids (``shard.fingerprint``, ``sharding.fingerprint``);
* **counted twice** (exit 2): two copies of one whole run combined to doubled counts. A shard may
  be given once, and no test id may be in two folders' JUnit files;
* **not a results folder** (exit 2): a ``summary.json`` that is missing, not a summary, a FIFO
  (which hung combine), a folder, a link out of its folder, or above 64 MiB;
* **unreadable data** (exit 3, recorded as the summary's ``infrastructure_error``): a truncated or
  empty JUnit file (a ``ParseError`` traceback before), coverage data coverage.py cannot read (it
  skipped it with a warning, and the figures came out lower, exit 0), coverage a shard measured
  but whose data is not in its folder, a durations file that is not a regular file;
* **tests that did not report** (exit 1, as a run with a missing test): a shard whose test ended
  its process (``os._exit(0)``) said it "had nothing to run" and combine reported 4 of 8 tests.
  Each selected pass of a shard must account for every collected test (reported, or deselected by
  the shard, the pass's kind, ``-k``/``-m``), and the shards together must select every collected
  test (``Shortfall``).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..summary.model import Summary
from ..summary.validate import MAX_BYTES, Invalid, parse
from ..untrusted_files import MIB, UnusableFile, read_regular

PASSES = ("unit", "integration")
KIND_PROPERTY = "async_test_kind"
MAX_JUNIT_BYTES = 1024 * MIB  # the runner caps each test's output; a JUnit file near this is not its own
SHOWN = 3  # examples named in a message


class CombineError(Exception):
    """The folders cannot be combined; one paragraph saying why and what to do (exit 2)."""


@dataclass
class Input:
    """One results folder given to combine: its summary, its parsed JUnit files, what could not be read."""

    path: Path
    summary: Summary
    junit: Dict[str, ET.Element] = field(default_factory=dict)  # kind -> root, for the files it has

    @property
    def name(self) -> str:
        shard = self.summary.shard
        return f"shard {shard.index}/{shard.total} ({self.path})" if shard else str(self.path)


def _unreadable(exc: BaseException) -> str:
    return (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)


# ------------------------------------------------------------------ summaries (exit 2)


def read_summary(folder: Path, given: str) -> Summary:
    """The folder's summary.json, read without trusting it; CombineError when it is not one."""
    try:
        return Summary.from_json(parse(read_regular(folder / "summary.json", MAX_BYTES, inside=folder)))
    except (OSError, ValueError, Invalid, UnusableFile, RecursionError) as exc:
        raise CombineError(f"{given} is not a finished run's results folder: cannot read its summary.json "
                           f"({_unreadable(exc)}). Give the results folders of async-test run --shard K/N (each "
                           f"shard's --results-dir, default PROJECT/.async-test).") from None


def read_inputs(given_folders: Sequence[str]) -> List[Input]:
    """Every folder's summary, checked to be one suite's parts, each once (CombineError otherwise)."""
    inputs: List[Input] = []
    for given in given_folders:
        path = Path(given).resolve()
        if any(i.path == path for i in inputs):
            raise CombineError(f"{given} is given twice; each results folder is combined once.")
        inputs.append(Input(path, read_summary(path, given)))
    _check_shard_set(inputs)
    _check_one_suite(inputs)
    return inputs


def _check_shard_set(inputs: Sequence[Input]) -> None:
    shards = [i.summary.shard for i in inputs]
    if all(s is None for s in shards):
        return
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


def _differ(what: str, values: Mapping[str, object]) -> str:
    return f"{what} differ: " + ", ".join(f"{name}: {value}" for name, value in values.items())


def _check_one_suite(inputs: Sequence[Input]) -> None:
    """One project's folders, and shards of one collection: anything else would lose or mix tests silently."""
    problems = []
    places = {i.name: i.summary.project.path_in_repo or "." for i in inputs}
    if len(set(places.values())) > 1:
        problems.append(_differ("the projects' paths in their repositories", places))
    shards = {i.name: i.summary.shard for i in inputs if i.summary.shard is not None}
    collected = {name: s.collected for name, s in shards.items() if s.collected is not None}
    if len(set(collected.values())) > 1:
        problems.append(_differ("the numbers of tests they collected", collected))
    prints = {name: s.fingerprint for name, s in shards.items() if s.fingerprint is not None}
    if len(set(prints.values())) > 1:
        problems.append(_differ("the digests of the test ids they collected", prints))
    if problems:
        raise CombineError(
            f"cannot combine these folders: they are not parts of one suite ({'; '.join(problems)}). Shards of two "
            "projects, or of two commits of one, would combine into figures for neither, with tests missing. Give "
            "the results folders of one async-test run --shard K/N of one commit, K = 1..N.")


# ------------------------------------------------------------------ JUnit (exit 3, or exit 2 for a test twice)


def read_junit(inputs: Sequence[Input]) -> List[str]:
    """Parse every folder's JUnit files into ``Input.junit``; what could not be read, one line each."""
    problems = []
    for given in inputs:
        for kind in PASSES:
            path = given.path / f"junit-{kind}.xml"
            if not os.path.lexists(path):
                continue
            try:
                data = read_regular(path, MAX_JUNIT_BYTES, inside=given.path)
                if b"<!ENTITY" in data or b"<!DOCTYPE" in data:  # pytest writes neither; entities can explode
                    raise ValueError("it declares a DOCTYPE or entities, which pytest never writes")
                root = ET.fromstring(data)
                if root.tag not in ("testsuite", "testsuites"):
                    raise ValueError(f"its root element is <{root.tag[:40]}>, not <testsuites> or <testsuite>")
            except (OSError, UnusableFile, ValueError, ET.ParseError) as exc:  # ParseError: truncated, empty
                problems.append(f"{given.name}: junit-{kind}.xml cannot be read ({_unreadable(exc)}); its tests "
                                "are left out of the combined JUnit file")
                continue
            given.junit[kind] = root
    return problems


def suites(root: ET.Element) -> List[ET.Element]:
    return [root] if root.tag == "testsuite" else list(root.iter("testsuite"))


def case_kind(case: ET.Element) -> Optional[str]:
    for prop in case.iter("property"):
        if prop.get("name") == KIND_PROPERTY:
            return prop.get("value")
    return None


def is_collection_error(case: ET.Element) -> bool:
    """A module that failed to collect: every shard collects every module, so each reports it."""
    return case_kind(case) is None and case.find("error") is not None


def check_no_test_twice(inputs: Sequence[Input]) -> None:
    """No test id in the JUnit files of two folders (two copies of one run summed to doubled counts)."""
    owner: Dict[Tuple[Optional[str], Optional[str]], str] = {}
    twice: Dict[Tuple[str, str], List[str]] = {}
    for given in inputs:
        mine: Set[Tuple[Optional[str], Optional[str]]] = set()
        for root in given.junit.values():
            for suite in suites(root):
                for case in suite.iter("testcase"):
                    if not is_collection_error(case):
                        mine.add((case.get("classname"), case.get("name")))
        for key in sorted(mine, key=str):
            if key in owner:
                twice.setdefault((owner[key], given.name), []).append(f"{key[0]}::{key[1]}")
            else:
                owner[key] = given.name
    if twice:
        (first, second), tests = next(iter(twice.items()))
        shown = ", ".join(tests[:SHOWN]) + (f" and {len(tests) - SHOWN} more" if len(tests) > SHOWN else "")
        raise CombineError(
            f"cannot combine these folders: {first} and {second} both hold results of {len(tests)} test(s) "
            f"({shown}), which would be counted twice. They are copies of one run or shard, or overlapping runs. "
            "Give each shard's results folder once (or whole runs that ran different tests, e.g. --only unit and "
            "--only integration).")


# ------------------------------------------------------------------ tests that did not report (exit 1)


def shortfalls(inputs: Sequence[Input]) -> List[str]:
    """Shards whose selected tests did not all report, and tests no shard selected; one line each.

    A pass of a shard sees every collected test and either runs it (``counts.total``, which also
    counts each module that failed to collect) or deselects it (another shard's, the other kind's,
    ``-k``/``-m``): ``total + deselected`` below ``collected`` means tests that never reported, as when
    a test ends the process (``os._exit``) before pytest writes its results. Without the plugin's
    counts (under xdist) nothing is claimed.
    """
    lines = []
    shards = [(i, i.summary.shard) for i in inputs if i.summary.shard is not None]
    for given, shard in shards:
        if shard.collected is None or shard.selected is None:
            continue
        short = []
        for p in given.summary.passes:
            accounted = p.counts.total + p.deselected
            if p.selected and accounted < shard.collected:
                short.append(f"its {p.kind} pass reported {p.counts.total} and deselected {p.deselected} of the "
                             f"{shard.collected} collected")
        if short:
            missing = min(shard.selected, sum(shard.collected - p.counts.total - p.deselected
                                              for p in given.summary.passes if p.selected))
            lines.append(f"shard {shard.index}/{shard.total}: {missing} of its {shard.selected} selected test(s) did "
                         f"not report ({'; '.join(short)})")
    counts = [s.selected for _, s in shards]
    collected = {s.collected for _, s in shards}
    if shards and None not in counts and len(collected) == 1 and None not in collected:
        total = int(collected.pop() or 0)
        chosen = sum(int(c or 0) for c in counts)
        if chosen < total:
            lines.append(f"the shards together selected {chosen} of the {total} collected tests: "
                         f"{total - chosen} ran in none")
    return lines


# ------------------------------------------------------------------ coverage data (exit 3)


def coverage_problems(inputs: Sequence[Input]) -> List[str]:
    """Coverage a folder measured but cannot give: without it the combined figures would be silently lower."""
    problems = []
    for given in inputs:
        recorded = given.summary.coverage
        if recorded.error:
            problems.append(f"{given.name}: its coverage could not be measured ({recorded.error[:300]})")
        for kind in PASSES:
            path = given.path / f".coverage.{kind}"
            if recorded.figure(kind) is not None and not os.path.lexists(path):
                problems.append(f"{given.name}: it measured {kind} coverage, but its .coverage.{kind} is missing "
                                "(an artifact uploaded without hidden files?)")
    return problems
