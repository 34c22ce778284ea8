"""Coverage per pass, combined with static contexts, and which lines only mocks reach.

Each pass writes its own coverage.py data file.  The combined file records
every line under the context of the pass that ran it (``unit`` or
``integration``), so ``coverage html --show-contexts`` shows who covered what;
the per-file split says which lines only unit tests (mocks) reach, which is
what a pull request's reviewer wants to know about changed code. The HTML
report colours each line by who ran it (``coverage_html``).
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from ..summary.model import Coverage, CoverageFigure, FileCoverage
from .coverage_compat import parse_each_file_once
from .coverage_html import write_html_report
from .project import Project

PASSES = ("unit", "integration")
_PREPARING: List[Any] = []


# Read by plugin/coverage_concurrency.py in each pass: measure code run in greenlets (SQLAlchemy's async
# layer) and threads when the project's coverage configuration sets no concurrency of its own.
CONCURRENCY_ENV = "_ASYNC_TEST_COVERAGE_CONCURRENCY"


def measurement_environment() -> Dict[str, str]:
    """What a pass that measures coverage gets besides COVERAGE_FILE."""
    return {CONCURRENCY_ENV: "greenlet,thread"}


def prepare_in_background() -> None:
    """Import what the reports need while the tests run (once per process).

    The runner only waits for pytest then; importing coverage.py and its reporters afterwards put
    about 0.1 s on the end of every run, on a second core that was idle all along.
    """
    if _PREPARING:
        return

    def load() -> None:
        try:
            import xml.dom.minidom  # noqa: F401

            import coverage.jsonreport
            import coverage.sqldata
            import coverage.xmlreport  # noqa: F401
        except Exception:
            pass  # the main thread imports them again, and says what fails

    import threading

    thread = threading.Thread(target=load, name="async-test-prepare-reports", daemon=True)
    _PREPARING.append(thread)
    thread.start()


def prepared() -> None:
    """Wait for ``prepare_in_background``'s imports: the main thread must not import coverage.py while that
    thread still does (a pass interrupted at once: two threads importing one package can meet a partly
    initialised module, and the thread printed an ImportError traceback)."""
    for thread in _PREPARING:
        thread.join()


def _coverage(data_file: Path, project: Project) -> Any:
    import coverage

    config: Any = str(project.coverage_config) if project.coverage_config else True
    cov = coverage.Coverage(data_file=str(data_file), config_file=config,
                            source=project.source_arguments() or None)
    cov.load()
    return cov


def _json(cov: Any, path: Path, show_contexts: bool = False) -> Optional[Dict[str, Any]]:
    """coverage.py's JSON report, written to ``path`` and read back; None when nothing was measured.

    The figures come from here rather than from ``report()`` plus ``analysis2()`` per file: each of
    those analyses every file again, and parsing the sources was most of the coverage phase. The
    totals are coverage.py's own (``percent_covered`` is what ``report()`` returns).
    """
    try:
        cov.json_report(outfile=str(path), show_contexts=show_contexts)
    except Exception:  # coverage raises NoDataError when nothing was measured
        return None
    report: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def _figure_of_xml(path: Path) -> CoverageFigure:
    """A pass's figure from the Cobertura totals its XML report carries (one analysis less a pass
    than a report of its own): coverage.py's percentage, statements and branches together, as
    ``report()`` computes it (checked equal with and without branch coverage)."""
    root = ET.parse(path).getroot()
    lines, covered = int(root.get("lines-valid", 0)), int(root.get("lines-covered", 0))
    branches, taken = int(root.get("branches-valid", 0)), int(root.get("branches-covered", 0))
    total = lines + branches
    percent = 100.0 * (covered + taken) / total if total else 100.0
    return CoverageFigure(round(percent, 2), covered, lines)


def _figure(report: Dict[str, Any]) -> CoverageFigure:
    totals = report["totals"]
    return CoverageFigure(round(float(totals["percent_covered"]), 2), int(totals["covered_lines"]),
                          int(totals["num_statements"]))


def combine(results: Path, project: Project) -> Optional[Path]:
    """Write results/.coverage with each pass's lines under its own static context."""
    from coverage import CoverageData

    target = results / ".coverage"
    if target.exists():
        target.unlink()
    combined = CoverageData(basename=str(target))
    found = False
    for kind in PASSES:
        source = results / f".coverage.{kind}"
        if not source.exists():
            continue
        data = CoverageData(basename=str(source))
        data.read()
        files = list(data.measured_files())
        if not files:
            continue
        found = True
        combined.set_context(kind)
        if data.has_arcs():
            combined.add_arcs({f: list(data.arcs(f) or []) for f in files})
        else:
            combined.add_lines({f: list(data.lines(f) or []) for f in files})
        combined.add_file_tracers({f: t for f in files if (t := data.file_tracer(f))})
    if not found:
        return None
    combined.write()
    return target


def _repo_relative_xml(path: Path, project: Project) -> None:
    """Rewrite a Cobertura file so every filename is relative to the repository root."""
    tree = ET.parse(path)
    root = tree.getroot()
    sources = [s.text or "" for s in root.iter("source")]
    for cls in root.iter("class"):
        name = cls.get("filename", "")
        for source in sources or [str(project.root)]:
            candidate = Path(source) / name
            if candidate.exists():
                cls.set("filename", project.repo_relative(str(candidate)))
                break
    sources_el = root.find("sources")
    if sources_el is not None:
        for child in list(sources_el):
            sources_el.remove(child)
        ET.SubElement(sources_el, "source").text = "."
    tree.write(path, encoding="utf-8", xml_declaration=True)


def build_reports(results: Path, project: Project, html: bool = False, html_include_tests: bool = False) -> Coverage:
    """Per-pass and combined reports and numbers; the ``coverage`` part of summary.json, thresholds aside.

    Each report analyses every file again (coverage.py parses the source each time), so every figure
    comes from a report written anyway: per pass the XML (its totals), for the combined data the
    JSON (figure and the per-file split) and the XML. The HTML report (``coverage_html``: lines
    coloured by kind, test files left out unless ``html_include_tests``) only on
    request (``--html``, or ``async-test html`` afterwards): on a large project it was most of the
    coverage phase, which every run paid and few runs looked at.
    """
    prepared()
    old_cwd = os.getcwd()
    os.chdir(project.root)  # coverage resolves config-relative paths from here
    try:
        with parse_each_file_once():
            return _build(results, project, html, html_include_tests)
    finally:
        os.chdir(old_cwd)


def _build(results: Path, project: Project, html: bool, html_include_tests: bool = False) -> Coverage:
    figures: Dict[str, Optional[CoverageFigure]] = dict.fromkeys(PASSES)
    for kind in PASSES:
        data_file = results / f".coverage.{kind}"
        if not data_file.exists():
            continue
        cov = _coverage(data_file, project)
        if not cov.get_data().measured_files():
            continue
        xml = results / f"coverage-{kind}.xml"
        try:
            cov.xml_report(outfile=str(xml))
        except Exception:  # coverage raises NoDataError when nothing was measured
            xml.unlink(missing_ok=True)
            continue
        figures[kind] = _figure_of_xml(xml)
        _repo_relative_xml(xml, project)
    combined_file = combine(results, project)
    if combined_file is None:
        return Coverage(unit=figures["unit"], integration=figures["integration"])
    cov = _coverage(combined_file, project)
    combined_report = _json(cov, results / "coverage.json", show_contexts=True)
    cov.xml_report(outfile=str(results / "coverage.xml"))
    _repo_relative_xml(results / "coverage.xml", project)
    if html:
        _html(cov, results, project, html_include_tests)
    if combined_report is None:
        return Coverage(unit=figures["unit"], integration=figures["integration"])
    return Coverage(unit=figures["unit"], integration=figures["integration"],
                    combined=_figure(combined_report), files=_split(combined_report, project))


def _split(report: Dict[str, Any], project: Project) -> Tuple[FileCoverage, ...]:
    """Per file: the statements only unit tests ran, only integration tests, both, neither."""
    files: List[FileCoverage] = []
    by_path = {str(project.root / name): entry for name, entry in report["files"].items()}
    for path in sorted(by_path):
        entry = by_path[path]
        executed, missing = set(entry["executed_lines"]), set(entry["missing_lines"])
        stmts = executed | missing
        ran: Dict[str, Set[int]] = {kind: set() for kind in PASSES}
        for line, contexts in entry.get("contexts", {}).items():
            for kind in PASSES:
                if kind in contexts:
                    ran[kind].add(int(line))
        unit, integration = ran["unit"] & stmts, ran["integration"] & stmts
        files.append(FileCoverage(
            path=project.repo_relative(path),
            statements=len(stmts),
            percent=round(100.0 * (len(stmts) - len(missing)) / len(stmts), 2) if stmts else 100.0,
            unit_only=tuple(sorted(unit - integration)),
            integration_only=tuple(sorted(integration - unit)),
            both=tuple(sorted(unit & integration)),
            neither=tuple(sorted(stmts - unit - integration)),
        ))
    return tuple(files)


def _html(cov: Any, results: Path, project: Project, include_tests: bool) -> Path:
    report = write_html_report(cov, results / "html", project.root, include_tests=include_tests)
    if not report.recognised:
        sys.stderr.write(f"async-test: warning: coverage.py's HTML pages were not as expected "
                         f"({', '.join(report.unrecognised[:3])}); the lines are not coloured by kind\n")
    return report.index


def write_html(results: Path, project: Project, include_tests: bool = False) -> Path:
    """The HTML report of a finished run's combined coverage (``async-test html``); its index."""
    combined_file = results / ".coverage"
    if not combined_file.exists():
        raise FileNotFoundError(f"{combined_file} does not exist: run async-test run (with coverage) first")
    old_cwd = os.getcwd()
    os.chdir(project.root)
    try:
        return _html(_coverage(combined_file, project), results, project, include_tests)
    finally:
        os.chdir(old_cwd)
