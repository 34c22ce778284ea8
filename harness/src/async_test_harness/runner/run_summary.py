"""After the passes: summary.json's document, the header and the results table on the console.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import __version__, phases
from ..masking import mask_text
from ..messages import one_line
from ..settings import Settings
from ..sharding import DURATIONS_FILE, RESULTS_DURATIONS, durations_text
from ..summary.format import pct
from ..summary.model import (
    TOOL_NAME,
    AffectedInfo,
    Coverage,
    Exit,
    Passes,
    PerFigure,
    ProjectPaths,
    ShardInfo,
    Summary,
    Tool,
)
from . import affected_run
from .console import shown
from .project import Project
from .results import UNREPORTED_WHEN, merge_collection_errors
from .results_folder import clean_text, write_atomically
from .run_state import THRESHOLD_FLAGS, RunState
from .verdict import (
    Facts,
    PassFacts,
    decide,
)


class SummaryBuilder(RunState):
    @staticmethod
    def _write_failure(results: Path, exc: OSError, what: str, left: str) -> str:
        """One line for results that could not be written: what failed and why, what is left, what to do."""
        cause = exc.strerror or str(exc)
        return (f"could not write {what} to {results} ({cause}); {left}. Free space on that file system (or "
                "choose another folder with --results-dir) and run again")

    @staticmethod
    def _remove_coverage_reports(results: Path) -> None:
        """Coverage reports an error cut short: remove them rather than leave a truncated one as a result."""
        for name in ("coverage.xml", "coverage.json", "coverage-unit.xml", "coverage-integration.xml"):
            try:
                (results / name).unlink(missing_ok=True)
            except OSError:
                pass
        shutil.rmtree(results / "html", ignore_errors=True)

    def _write_durations(self, results: Path) -> None:
        """The tests' durations in the results folder (``durations.json``), for the next sharded run to
        balance by: the action caches it, a user may commit it as the project's durations file."""
        measured: Dict[str, float] = {}
        for result in self.passes.values():
            measured.update(result.durations)
        if not measured:
            return
        try:
            write_atomically({results / RESULTS_DURATIONS: durations_text(measured)})
        except OSError as exc:
            self.console.line(f"async-test: could not write {results / RESULTS_DURATIONS}: {exc.strerror or exc}",
                              "yellow")

    def _shard_collected(self) -> Optional[int]:
        """How many tests all shards together collected, as the plugin reported it (None: unknown, xdist)."""
        for result in self.passes.values():
            if result.shard and isinstance(result.shard.get("collected"), int):
                return int(result.shard["collected"])
        return None

    def _shard_fingerprint(self) -> Optional[str]:
        """The digest of the collected test ids (sharding.fingerprint): combine refuses shards of two suites."""
        for result in self.passes.values():
            if result.shard and isinstance(result.shard.get("fingerprint"), str):
                return str(result.shard["fingerprint"])
        return None

    def _shard_selected(self) -> Optional[int]:
        for result in self.passes.values():
            if result.shard and isinstance(result.shard.get("selected"), int):
                return int(result.shard["selected"])
        return None

    def _exit_code(self, coverage: Coverage) -> tuple[int, List[str]]:
        """The verdict (verdict.py) on this run's facts; keeps it for ``_summary``."""
        below = []
        for key, threshold in self.thresholds.items():
            measured = coverage.figure(key)
            if threshold is not None and (measured is None or measured.percent < threshold.percent):
                got = f"{measured.percent:.2f}%" if measured else "no data"
                # A threshold from the project's files names them: nobody typed it on this command line.
                origin = "" if threshold.origin == THRESHOLD_FLAGS[key] else f" ({threshold.origin})"
                below.append(f"{key} coverage {got} < {threshold.percent:g}%{origin}")
        facts = Facts(
            passes=tuple(PassFacts(
                kind=p.kind, selected=p.selected, status=p.status, exit_code=p.exit_code,
                usage_error=bool(p.usage_error), infrastructure_error=p.infrastructure_error,
                status_reason=p.status_reason, unreported=len(p.unreported)) for p in self.passes.values()),
            interrupted=self.interrupted, results_error=self.results_error, below=tuple(below),
            shard=str(self.options.shard) if self.options.shard is not None else None,
            shard_collected=self._shard_collected(),
            affected_collected=affected_run.counts(self.affected)[1] if self.affected is not None else None)
        self.verdict = decide(facts)
        self.empty_shard = self.verdict.empty_shard
        if self.verdict.infrastructure_error is not None:
            self.infrastructure_error = self.verdict.infrastructure_error
        return self.verdict.code, below

    def _summary(self, project: Project, settings: Settings, results: Path, versions: Dict[str, Any],
                 coverage: Coverage, code: int, below: List[str]) -> Summary:
        verdict = self.verdict
        assert verdict is not None and verdict.code == code, "_exit_code decides first"
        name, reason, below = verdict.name, verdict.reason, list(verdict.below)
        info = self.server.info if self.server else None
        versions = dict(versions, postgresql=info.version if info else None,
                        postgresql_source=(info.source + ": " + info.bindir) if info else (
                            "database_url" if settings.database_url else None))
        self.phases["total"] = round(time.monotonic() - self.began, 3)
        summary = Summary(
            tool=Tool(TOOL_NAME, __version__),
            started_at=self.started_at.isoformat(),
            duration_seconds=self.phases["total"],
            project=ProjectPaths(str(project.root), str(project.repo_root), project.path_in_repo, str(results)),
            exit=Exit(code, name, reason),
            environment=versions,
            phases=self.phases,
            passes=merge_collection_errors(Passes(self.passes["unit"].to_model(),
                                                  self.passes["integration"].to_model())),
            coverage=replace(
                coverage,
                thresholds=PerFigure(**{k: t.percent if t else None for k, t in self.thresholds.items()}),
                threshold_sources=PerFigure(**{k: t.origin if t else None for k, t in self.thresholds.items()}),
                below_threshold=tuple(below),
            ),
            infrastructure_error=self.infrastructure_error,
            files={
                "junit_unit": "junit-unit.xml", "junit_integration": "junit-integration.xml",
                "coverage_unit": "coverage-unit.xml", "coverage_integration": "coverage-integration.xml",
                "coverage": "coverage.xml", "coverage_json": "coverage.json",
                **({"coverage_html": "html/index.html"} if self.options.html else {}),
                "coverage_data": ".coverage", "summary_markdown": "summary.md",
                **({"durations": RESULTS_DURATIONS} if (results / RESULTS_DURATIONS).exists() else {}),
            },
            shard=(ShardInfo(self.options.shard.index, self.options.shard.total, self._shard_selected(),
                             self._shard_collected(), self._shard_fingerprint())
                   if self.options.shard is not None else None),
            affected=self._affected_info(),
        )
        # clean_text: test output and ids may hold text no writer accepts (lone surrogates from undecodable
        # bytes); then every secret masked, in every string (mask_data on the document did the same).
        return summary.map_text(lambda text: mask_text(clean_text(text), self.secrets))

    # ------------------------------------------------------------------ console

    def _affected_header(self) -> None:
        """--record-map and --affected in the header: what is recorded, what was selected or why not."""
        c, opts = self.console, self.options
        if opts.record_map:
            c.line("  test map    recorded (a coverage context per test)" if opts.coverage and
                   self.two_processes_because is None else
                   f"  test map    not recorded: it needs coverage and one session "
                   f"({'--no-coverage' if not opts.coverage else self.two_processes_because})", "yellow")
        if self.affected is not None:
            sel = self.affected.selection
            if sel.run_all:
                c.line(f"  affected    every test runs: {sel.reason}", "yellow")
            else:
                where = ("by async-test combine, onto the merged shards" if opts.shard is not None else
                         "where it can be (thresholds then apply)")
                c.line(f"  affected    {len(sel.changed)} changed file(s) since the map's commit; the coverage "
                       f"of the tests left out is carried forward from the map, {where}")
                for note in sel.notes[:20]:
                    c.line(f"              {note}")

    def _affected_info(self) -> Optional[AffectedInfo]:
        """The summary's part of an --affected run: "ran 37 of 1,204 tests (affected by 2 changed files)"."""
        if self.affected is None:
            return None
        sel = self.affected.selection
        selected, collected = affected_run.counts(self.affected)
        carried = self.coverage_carried
        return AffectedInfo(sel.describe(selected, collected), sel.run_all, sel.reason or None, selected, collected,
                            len(sel.changed), carried[1] if carried else None, carried[0] if carried else None,
                            carried[2] if carried else None)

    def _header(self, project: Project, settings: Settings, results: Path, selected: List[str]) -> None:
        c = self.console
        c.rule(phases.SETTINGS)
        c.line(f"async-test run {__version__}: {shown(project.root)}", "bold")
        c.line(f"  config      {shown(project.config_file) if project.config_file else '(none: pytest defaults)'}")
        sources = ", ".join(project.coverage_sources) or f"from {project.coverage_config}"
        if project.coverage_sources_origin and project.coverage_sources_origin != "--cov-source":
            sources += f" ({project.coverage_sources_origin})"
        c.line(f"  coverage    {'off' if not self.options.coverage else sources}")
        limits = [f"{k} {t.percent:g}% ({t.origin})" for k, t in self.thresholds.items() if t is not None]
        if limits and self.options.shard is not None:
            c.line(f"  threshold   {', '.join(limits)}; not checked in a shard run: async-test combine checks "
                   "them on the combined figures")
        elif limits:
            c.line(f"  threshold   {', '.join(limits)}; checked after the run, never inside one pass")
        c.line(f"  results     {shown(results)}")
        if self.options.shard is not None:
            balance = (f"balanced by {self.durations_path}" if self.durations_path is not None
                       else f"no durations file ({DURATIONS_FILE}): balanced by test count")
            unit = "single tests" if self.options.shard_split_modules else "whole modules"
            c.line(f"  shard       {self.options.shard} ({unit}; {balance}); coverage thresholds not checked")
        if self.options.install_source:
            c.line(f"  installed   from {self.options.install_source}")
        if settings.database_url:
            c.line(f"  database    {mask_text(settings.database_url, self.secrets)} (database_url)")
        elif self.server is not None:
            c.line("  database    ephemeral PostgreSQL, starting in the background")
        if len(selected) == 2 and self.two_processes_because is None:
            # the project's own order, each test under its kind (no longer every unit test first)
            passes = "unit and integration (one pytest session), in pytest's order (plugins' too), not unit first"
        elif len(selected) == 2:
            joined = ' then '.join(selected) if not self.options.parallel else ' and '.join(selected)
            passes = f"{joined} (two processes: {self.two_processes_because})"
        else:
            passes = selected[0] if selected else "none"
        c.line(f"  passes      {passes}")
        c.line("  unit        tests classified unit (marker, */unit/* path, no database fixture); database blocked")
        c.line("  integration tests classified integration; real database, one isolated session per test")

    TABLE_FAILURES = 20  # failures listed under the results table; summary.md has them all

    def _table(self, summary: Summary, written: bool = True) -> None:
        c = self.console
        c.rule(phases.SUMMARY)
        cov = summary.coverage
        c.line(f"{'pass':<12} {'status':<12} {'tests':>5} {'passed':>6} {'failed':>6} {'errors':>6} "
               f"{'skipped':>7} {'time':>8} {'coverage':>9}")
        for kind, p in summary.passes.items():
            n = p.counts
            style = {"passed": "green", "failed": "red", "error": "red"}.get(p.status, "")
            c.line(f"{kind:<12} {p.status:<12} {n.total:>5} {n.passed:>6} {n.failed:>6} "
                   f"{n.errors:>6} {n.skipped:>7} {p.duration_seconds:>7.1f}s {pct(cov.figure(kind)):>9}", style)
        if cov.combined:
            c.line(f"{'combined':<12} {'':<12} {'':>5} {'':>6} {'':>6} {'':>6} {'':>7} {'':>8} "
                   f"{pct(cov.combined):>9}")
        if summary.affected is not None:
            c.line(f"affected: {summary.affected.line}", "yellow" if summary.affected.run_all else "")
            if summary.affected.coverage_line:
                c.line(f"affected: {summary.affected.coverage_line}",
                       "" if summary.affected.coverage_carried else "yellow")
        if self.empty_shard and summary.affected is not None and not summary.affected.run_all:
            c.line(f"shard {self.options.shard} had nothing to run: the tests the change affects are in the "
                   "other shards (not a failure)", "yellow")
        elif self.empty_shard:
            c.line(f"shard {self.options.shard} had nothing to run: there are more shards than test modules, and "
                   "the other shards run every test (not a failure)", "yellow")
        for p in summary.passes:
            if p.status_reason:
                c.line(f"{p.kind} pass {p.status}: {p.status_reason}", "red")
            for warning in p.warnings:
                c.line(f"warning ({p.kind}): {warning}", "yellow")
        for p in summary.passes:
            lost = [f for f in p.failures if f.when == UNREPORTED_WHEN]
            if lost:
                c.line(f"{p.kind} pass: {len(lost)} of {p.counts.total} selected test(s) did not report (the pytest "
                       "process ended before they ran): counted as failures", "red")
        failures = [f for p in summary.passes for f in p.failures]
        for failure in failures[:self.TABLE_FAILURES]:
            # After the last phase: in GitHub Actions outside every group, the failures seen without a click.
            where = "" if failure.when == "call" else f" ({failure.when})"
            c.line(f"FAILED {failure.nodeid}{where}: {one_line(failure.message)[:200]}", "red")
        if len(failures) > self.TABLE_FAILURES:
            c.line(f"... and {len(failures) - self.TABLE_FAILURES} more failure(s) in summary.md", "red")
        infra = summary.infrastructure_error
        if infra:
            c.line(f"infrastructure ({infra.phase}): {infra.message}", "red")
        exit_info = summary.exit
        style = "green" if exit_info.code == 0 else "red"
        details = f"; details in {shown(summary.project.results_dir)}/summary.md" if written else ""
        c.line(f"result: {exit_info.reason} (exit {exit_info.code}){details}", style)
