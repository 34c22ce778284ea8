"""Both passes in one pytest session, and its results split back into the two passes'.

Two pytest processes imported and collected the project twice: on real suites ``async-test run``
took 1.4-1.6 times a plain ``pytest --cov`` for the same tests. One session runs the tests in the
project's own order, the database blocked around each unit test (as in a unit pass), and
coverage.py's dynamic contexts record which kind ran each line (plugin/coverage_contexts.py).
Afterwards this module writes what the two passes wrote: ``junit-unit.xml`` and
``junit-integration.xml``, ``.coverage.unit`` and ``.coverage.integration`` (lines run outside
any test, imports and collection, in both, as each pass's own process ran them), so everything
downstream (coverage reports, summary.json, the GitHub report) is unchanged.

``fits`` says when one session cannot stand in for two processes; the runner then uses two.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

if TYPE_CHECKING:
    from .project import Project

PASSES = ("unit", "integration")
KIND = "all"
CONTEXTS_ENV = "_ASYNC_TEST_COVERAGE_CONTEXTS"  # read by plugin/coverage_contexts.py
PER_TEST_ENV = "_ASYNC_TEST_CONTEXT_PER_TEST"  # --record-map: a context per test (plugin/coverage_contexts.py)
ONE_SESSION_ENV = "_ASYNC_TEST_ONE_SESSION"  # plugin/early_connections.py's SESSION_ENV
KIND_PROPERTY = "async_test_kind"  # the JUnit property the plugin gives every test


def fits(pass_args: Dict[str, List[str]], pytest_words: Sequence[str], coverage_config: Optional[Path],
         parallel: bool, selected: Sequence[str]) -> Optional[str]:
    """None when one session can run both passes; otherwise why not (shown in the header).

    ``pytest_words``: every argument pytest will see (the project's addopts, PYTEST_ADDOPTS, the
    arguments after --); ``coverage_config``: the file coverage.py will read, if any.
    """
    if len(selected) != 2:
        return "one pass selected"
    if parallel:
        return "--parallel asks for two processes"
    if any(pass_args.get(kind) for kind in PASSES):
        return "--unit-args/--integration-args give each pass its own arguments"
    if os.environ.get("COVERAGE_CORE", "") == "sysmon":
        return "COVERAGE_CORE=sysmon records no dynamic contexts"
    if any(w.startswith("--cov-context") for w in pytest_words):
        return "--cov-context sets the project's own coverage contexts"
    if _dynamic_context(coverage_config):
        return "the project's coverage configuration sets dynamic_context"
    return None


def _dynamic_context(config_file: Optional[Path]) -> bool:
    """Does the project's coverage configuration set its own dynamic contexts?"""
    if config_file is None:
        return False  # (config_file=True would search the current directory, not the project's)
    try:
        import coverage

        cov = coverage.Coverage(config_file=str(config_file))
        return bool(cov.get_option("run:dynamic_context"))
    except Exception:
        return False


def environment(results: Path) -> Dict[str, str]:
    """What the session's pytest process gets besides a pass's usual variables."""
    # ONE_SESSION_ENV: the plugin may hand the unit tests back (plugin/early_connections.py)
    return {CONTEXTS_ENV: "1", ONE_SESSION_ENV: "1", "COVERAGE_FILE": str(results / ".coverage.all")}


# ------------------------------------------------------------------ JUnit


def split_junit(source: Path, results: Path) -> None:
    """``junit-all.xml`` into ``junit-unit.xml`` and ``junit-integration.xml`` by each test's kind.

    A test case without the kind property (a collection error) goes into both, as both passes
    collected, and reported, the same files. Counts are recomputed per file.
    """
    if not source.exists():
        return
    tree = ET.parse(source)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for kind in PASSES:
        kept: List[ET.Element] = []
        for suite in suites:
            out_suite = ET.Element("testsuite", dict(suite.attrib))
            out_suite.extend(c for c in suite if c.tag != "testcase" or _case_kind(c) in (None, kind))
            recount(out_suite)
            kept.append(out_suite)
        if root.tag == "testsuite":
            out_root = kept[0]
        else:
            out_root = ET.Element(root.tag, dict(root.attrib))
            out_root.extend(kept)
        ET.ElementTree(out_root).write(results / f"junit-{kind}.xml", encoding="utf-8", xml_declaration=True)
    source.unlink()


def _case_kind(case: ET.Element) -> Optional[str]:
    for prop in case.iter("property"):
        if prop.get("name") == KIND_PROPERTY:
            return prop.get("value")
    return None


def recount(suite: ET.Element) -> None:
    cases = [c for c in suite if c.tag == "testcase"]
    counts = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for case in cases:
        total += float(case.get("time", "0") or 0)
        for name, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if case.find(name) is not None:
                counts[key] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.3f}")


# ------------------------------------------------------------------ coverage


def recover_flushed(source: Path) -> bool:
    """The data a session that died (os._exit, a signal) flushed before it did, as ``source``.

    coverage.py writes what it collected at each context switch (to ``source`` with a suffix: pytest-cov
    measures with ``data_suffix``), and combines and saves at the end; a session that died never
    saved. What it flushed is the lines of every test up to the last switch of kind: the tests of the
    kind the session did not die in are all there, as their own process would have kept them.
    False when there was nothing to recover (or ``source`` exists: the session saved).
    """
    if source.exists():
        return False
    parts = sorted(p for p in source.parent.glob(f"{source.name}.*") if p.is_file())
    if not parts:
        return False
    from coverage import CoverageData

    try:
        combined = CoverageData(basename=str(source))
        for part in parts:
            data = CoverageData(basename=str(part))
            data.read()
            combined.update(data)
        combined.write()
    except Exception:  # coverage's own error on a half-written part: nothing recovered
        source.unlink(missing_ok=True)
        return False
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return True


def split_coverage(source: Path, results: Path, project: Optional[Project] = None) -> None:
    """``.coverage.all`` (dynamic contexts) into ``.coverage.unit`` and ``.coverage.integration``.

    Each gets the lines of its own context plus those of the empty one (run outside any test).
    Which files each gets is what its own process would have recorded: with a coverage ``source``
    (the runner's --cov=SRC or the project's configuration) coverage.py lists every file under it,
    run or not (an unimported module at 0 %, a module only the other kind imported with nothing
    run), so every file of the session goes into both; without one, a process records only what
    it ran. Dropping the files with no line in a context (as this once did) dropped every unimported
    module from every figure: 100 % where two processes and plain ``pytest --cov`` said 28.6 %.
    """
    if not source.exists():
        return
    from coverage import CoverageData

    data = CoverageData(basename=str(source))
    data.read()
    files = list(data.measured_files())
    every_file = project is None or measures_source(project)
    tracers = {f: t for f in files if (t := data.file_tracer(f))}
    # Without a source, a pass lists only what it ran, or what nothing ran at all (the session lists
    # that because it is unrun; so would every process).
    unrun = {f for f in files if not (data.arcs(f) if data.has_arcs() else data.lines(f))}
    for kind in PASSES:
        target = results / f".coverage.{kind}"
        target.unlink(missing_ok=True)
        out = CoverageData(basename=str(target))
        data.set_query_contexts([f"^{kind}($|\\|)", "^$"])  # "unit" or, with --record-map, "unit|<nodeid>"
        if data.has_arcs():
            arcs = {f: data.arcs(f) or [] for f in files}
            out.add_arcs({f: a for f, a in arcs.items() if a})
            out.touch_files([f for f, a in arcs.items() if not a and (every_file or f in unrun)])
        else:
            lines = {f: data.lines(f) or [] for f in files}
            out.add_lines({f: n for f, n in lines.items() if n})
            out.touch_files([f for f, n in lines.items() if not n and (every_file or f in unrun)])
        measured = set(out.measured_files())
        out.add_file_tracers({f: t for f, t in tracers.items() if f in measured})
        out.write()
    data.set_query_contexts(None)
    source.unlink()


def measures_source(project: Project) -> bool:
    """Does coverage.py run with a ``source`` (so it lists unimported files) for this project?"""
    if project.source_arguments():
        return True
    if project.coverage_config is None:
        return False
    try:
        import coverage

        cov = coverage.Coverage(config_file=str(project.coverage_config))
        return bool(cov.get_option("run:source") or cov.get_option("run:source_pkgs"))
    except Exception:
        return False


# ------------------------------------------------------------------ time


def share_time(wall: float, durations: Dict[str, float]) -> Dict[str, float]:
    """The session's wall time shared between the kinds in proportion to their tests' durations.

    What each pass "took" in one process; start-up and collection are shared the same way.
    """
    total = sum(durations.get(kind, 0.0) for kind in PASSES)
    if total <= 0:
        return {kind: wall / len(PASSES) for kind in PASSES}
    return {kind: wall * durations.get(kind, 0.0) / total for kind in PASSES}

