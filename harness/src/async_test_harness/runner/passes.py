"""``async-test run``: the unit pass, the integration pass, coverage, one results folder.

Both passes run in one pytest session (session.py), or each in its own pytest process with the
plugin, its own JUnit file, coverage data and event log; PostgreSQL starts in the background while
the unit tests run (they need no database), and is stopped whatever happens. This module runs the
steps in order; each concern has its own module: run_setup (project, settings, thresholds),
pass_processes (the pytest processes and the one session), background_server (the server and its
hand-over), stopping (Ctrl-C), run_summary (summary.json, header, table) and verdict (the exit code).
The names other modules import from here are re-exported.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, Optional, Union

from .. import phases
from ..carryforward import Carried
from ..settings import Settings
from ..summary.model import Coverage, Exit
from . import affected_run, session
from .background_server import BackgroundServer
from .console import Console, colour_asked, colour_wanted, shown
from .coverage_reports import build_reports
from .pass_processes import PYTEST_MAIN, PassProcesses
from .project import Project
from .results import PassResult, write_summary
from .run_setup import Setup
from .run_state import OUR_OUTPUTS, PASSES, SERVER_FILE, THRESHOLD_FLAGS, RunOptions, UsageError
from .run_summary import SummaryBuilder
from .session import measures_source
from .verdict import (
    EXIT_COVERAGE,
    EXIT_INFRASTRUCTURE,
    EXIT_INTERRUPTED,
    EXIT_NO_TESTS,
    EXIT_OK,
    EXIT_REASONS,
    EXIT_TESTS_FAILED,
    EXIT_USAGE,
)

__all__ = [
    "EXIT_COVERAGE", "EXIT_INFRASTRUCTURE", "EXIT_INTERRUPTED", "EXIT_NO_TESTS", "EXIT_OK", "EXIT_REASONS",
    "EXIT_TESTS_FAILED", "EXIT_USAGE", "OUR_OUTPUTS", "PASSES", "PYTEST_MAIN", "SERVER_FILE", "THRESHOLD_FLAGS",
    "BackgroundServer", "Console", "Run", "RunOptions", "UsageError", "colour_asked", "colour_wanted", "shown",
]


class Run(PassProcesses, Setup, SummaryBuilder):
    """One ``async-test run``: each concern in its module (run_setup, pass_processes, background_server,
    stopping, run_summary, verdict); this class runs them in order."""

    # ------------------------------------------------------------------ main

    def execute(self) -> int:
        # Read before the results folder is claimed: --affected may name this run's own folder.
        base_map = affected_run.load(Path(self.options.affected)) if self.options.affected is not None else None
        try:
            project, settings, results = self._prepare()
        except UsageError as exc:
            self.console.line(f"async-test: {exc}", "red")
            return EXIT_USAGE
        self._start_stopper()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._execute(project, settings, results, base_map)
        finally:
            if self.server is not None:
                self.server.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._end_stopper()
            if self.results_folder is not None:
                self.results_folder.release()

    def _execute(self, project: Project, settings: Settings, results: Path,
                 base_map: Optional[affected_run.Loaded] = None) -> int:
        opts = self.options
        selected = [k for k in PASSES if opts.only in (None, k)]
        self.thresholds = self._resolve_thresholds(project)
        self.two_processes_because = "--separate-passes" if opts.separate_passes else session.fits(
            opts.pass_args, project.addopts + self._env_addopts() + opts.pytest_args, project.coverage_config,
            opts.parallel, selected)
        if "integration" in selected and not settings.database_url:
            self.server = BackgroundServer(settings)
        if opts.affected is not None:
            self.affected = affected_run.prepare(project, base_map, Path(opts.affected), results)
            if not self.affected.selection.run_all:
                # Part of the suite: its figures cover only it, unless the left-out tests' coverage is
                # carried forward from the base's map after the run (_carry_forward).
                self.suite_thresholds = self.thresholds
                self.thresholds = {k: None for k in self.thresholds}
        self._header(project, settings, results, selected)
        self._affected_header()
        log = opts.parallel and len(selected) == 2  # one pass alone runs in the foreground, output shown
        together = self.two_processes_because is None and self._one_session(project, results)
        if together:
            pass
        elif opts.parallel and len(selected) == 2:
            threads = {}
            outcome: Dict[str, PassResult] = {}

            def go(kind: str) -> None:
                outcome[kind] = (self._run_pass(kind, project, results, log) if kind == "unit"
                                 else self._integration(project, results, log))

            for kind in selected:
                threads[kind] = threading.Thread(target=go, args=(kind,))
                threads[kind].start()
            for t in threads.values():
                while t.is_alive():
                    t.join(0.2)  # keep the main thread responsive to signals
            self.passes = outcome
            for kind in selected:
                self.console.rule(phases.UNIT_LOG if kind == "unit" else phases.INTEGRATION_LOG)
                try:
                    self.console.write((results / f"{kind}.log").read_text(errors="replace"))
                except OSError as exc:
                    self.console.line(f"async-test: could not read {shown(results / f'{kind}.log')}: {exc}", "red")
        else:
            for kind in selected:
                if self.interrupted:
                    self.passes[kind] = PassResult(kind, status="interrupted")
                    continue
                if kind == "integration":
                    self._announce_server()
                self.console.rule(phases.UNIT if kind == "unit" else phases.INTEGRATION)
                self.passes[kind] = (self._run_pass(kind, project, results, log) if kind == "unit"
                                     else self._integration(project, results, log))
                self.console.elapsed(f"{kind} pass {self.passes[kind].status}", self.passes[kind].duration_seconds)
        for kind in PASSES:
            self.passes.setdefault(kind, PassResult(kind, selected=False, status="not-run"))
        if self.server is not None:
            self.server.stop()
        began = time.monotonic()
        coverage = Coverage()
        if opts.coverage:
            self.console.rule(phases.COVERAGE)
            try:
                coverage = build_reports(results, project, html=opts.html, html_include_tests=opts.html_include_tests)
            except OSError as exc:  # a full disk: coverage.py leaves its reports half-written
                coverage = Coverage(error=f"{type(exc).__name__}: {exc}")
                self._remove_coverage_reports(results)
                self.results_error = self._write_failure(results, exc, "the coverage reports",
                                                         "they were removed; summary.json has the rest")
            except Exception as exc:
                coverage = Coverage(error=f"{type(exc).__name__}: {exc}")
        self.phases["coverage"] = round(time.monotonic() - began, 3)
        if opts.coverage:
            if opts.html and (results / "html" / "index.html").is_file():
                self.console.line(f"async-test: coverage HTML report: {shown(results / 'html' / 'index.html')}")
            self.console.elapsed("coverage reports written" if coverage.error is None else "coverage failed",
                                 self.phases["coverage"])
        if opts.coverage and self.affected is not None and self.affected.path is not None:
            coverage = self._carry_forward(coverage, base_map, project, results)
        self._write_durations(results)
        self._suite_threshold_for_one_pass()
        code, below = self._exit_code(coverage)
        summary = self._summary(project, settings, results, self._versions(), coverage, code, below)
        try:
            write_summary(results, summary)
            written = True
        except OSError as exc:
            # The console must not say "all selected tests passed (exit 0)" while the process exits 3.
            written = False
            message = self._write_failure(results, exc, "summary.json and summary.md",
                                          "neither was written, and nothing half-written is left")
            if code != EXIT_INTERRUPTED:
                code = EXIT_INFRASTRUCTURE
                summary = replace(summary, exit=Exit(code, EXIT_REASONS[code][0],
                                                     f"infrastructure failure: {message}"))
            else:
                self.console.line(f"async-test: {message}", "red")
        self._table(summary, written)
        if written and (self.options.baseline_dir or self.options.compare_with):  # issue 25
            from ..baseline.command import after_run

            after_run(results, self.options.baseline_dir, self.options.compare_with,
                      lambda text: self.console.line(text))
        if written and opts.baseline_dir and opts.record_map:  # issue 26: the map travels with the baseline
            self.console.line(affected_run.store_with_baseline(results, Path(opts.baseline_dir).resolve()))
        return code

    def _carry_forward(self, coverage: Coverage, base_map: Optional[affected_run.Loaded],
                       project: Project, results: Path) -> Coverage:
        """--affected: the left-out tests' coverage from the base's map (carryforward.py); the figures then
        mean the whole suite, and the thresholds are checked on them. Else the run's own, unchecked."""
        carried: Union[Carried, str]
        if coverage.error is not None:
            carried = "the coverage reports failed"
        elif self.options.shard is not None:  # async-test combine carries it forward, on the merged shards
            why = affected_run.write_carry(self.affected, base_map, results)
            carried = ("a shard's figures are its part's (async-test combine carries the base's coverage forward "
                       f"onto the merged shards{f', except this one: {why}' if why else ''})")
        elif self.options.only is not None:
            carried = f"--only {self.options.only} runs one pass (the map's lines are the whole suite's)"
        else:
            carried = affected_run.carry_forward(self.affected, base_map, coverage, measures_source(project))
        if isinstance(carried, str):
            self.coverage_carried = (False, f"coverage not carried forward: {carried}; it covers only the tests "
                                            "that ran, and no threshold is checked", None)
            self.console.line(f"async-test: {self.coverage_carried[1]}", "yellow")
            return coverage
        self.thresholds = dict(self.suite_thresholds)
        checked = [k for k, t in self.thresholds.items() if t is not None]
        note = f"; thresholds checked on the carried-forward totals ({', '.join(checked)})" if checked else ""
        self.coverage_carried = (True, f"coverage: {carried.line}{note}", carried.files)
        self.console.line(f"async-test: {self.coverage_carried[1]}")
        return carried.coverage

