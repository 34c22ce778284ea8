"""Before the passes: the project, the settings, --python and --cov-source checked, the thresholds resolved.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from .. import versions
from ..settings import Settings, SettingsError, from_environment
from ..sharding import DURATIONS_FILE, RESULTS_DURATIONS, ShardError, read_durations
from . import bytecode
from .project import Project, ProjectError, Threshold, addopts_fail_under, find_project
from .results_folder import ResultsDirError, claim
from .run_state import OUR_OUTPUTS, THRESHOLD_FLAGS, RunState, UsageError


class Setup(RunState):
    def _prepare(self) -> tuple[Project, Settings, Path]:
        opts = self.options
        if opts.only not in (None, "unit", "integration"):
            raise UsageError(f"--only is {opts.only!r}; valid values: unit, integration.")
        try:
            project = find_project(opts.project_dir, opts.cov_source or None)
            settings = from_environment(os.environ, project.root)
            self.bytecode = bytecode.environment(os.environ, settings.bytecode_cache, opts.python)
        except (ProjectError, SettingsError) as exc:
            raise UsageError(str(exc)) from None
        if settings.database_url:
            from ..server.address import parse_url

            self.secrets.append(parse_url(settings.database_url).password)
            self.console_secrets = list(self.secrets)
        self._check_python()
        if opts.coverage:
            self._check_cov_sources(project)
        if opts.durations_file:
            given = Path(opts.durations_file)
            self.durations_path = given if given.is_absolute() else (Path.cwd() / given).resolve()
            if not self.durations_path.is_file():
                raise UsageError(
                    f"--durations-file {opts.durations_file}: no such file ({self.durations_path}). Give the "
                    f"durations file of an earlier run (its results folder's {RESULTS_DURATIONS}, or the project's "
                    f"{DURATIONS_FILE}), or leave the option out: shards are then balanced by test count.")
        elif opts.shard is not None and (project.root / DURATIONS_FILE).is_file():
            self.durations_path = project.root / DURATIONS_FILE
        if opts.shard is not None and self.durations_path is not None:
            try:  # read again by the plugin in every pass; a broken file is refused before anything runs
                read_durations(self.durations_path)
            except ShardError as exc:
                raise UsageError(str(exc)) from None
        results = Path(opts.results_dir) if opts.results_dir else project.root / ".async-test"
        if not results.is_absolute():
            results = (Path.cwd() / results).resolve()
        # Last: every other usage error is reported before the folder is created or touched.
        try:
            self.results_folder = claim(results, OUR_OUTPUTS)
        except ResultsDirError as exc:
            raise UsageError(str(exc)) from None
        return project, settings, results

    def _check_python(self) -> None:
        """--python must name an interpreter; otherwise each pass died with a traceback from Popen."""
        python = self.options.python
        if python == sys.executable:
            return
        found = shutil.which(python)
        if not found:
            raise UsageError(
                f"--python {python}: no such interpreter (not found, or not an executable file). Give the Python "
                "that has your test dependencies and pytest installed, e.g. --python .venv/bin/python."
            )
        # The passes start in the project's folder: a path relative to where the command was typed
        # (--python venv/bin/python) named nothing there. Absolute, without resolving the symlink a
        # virtual environment's python is (resolved, it would no longer be that environment's).
        self.options.python = os.path.abspath(found)

    def _check_cov_sources(self, project: Project) -> None:
        """Each --cov-source must name something coverage.py can measure.

        coverage.py reads a source that is not a folder as a package name and, when nothing by that
        name is imported, measures nothing: ``--cov-source nosuchdir`` ran green with coverage "-".
        A folder (relative to the project) or an importable package or module passes; a name is looked
        for in the project, its top-level folders (src/, lib/) and the test interpreter's import path.
        """
        if project.coverage_sources_origin != "--cov-source":
            return
        for source in project.coverage_sources:
            path = project.root / source
            if path.is_dir():
                continue
            if path.is_file():
                raise UsageError(
                    f"--cov-source {source} is a file; coverage measures folders and packages. Give its folder or "
                    f"its module name, e.g. --cov-source {Path(source).parent.as_posix() or '.'}."
                )
            if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", source) and self._importable(project, source):
                continue
            raise UsageError(
                f"--cov-source {source} names nothing coverage can measure: there is no folder {path} and no "
                f"importable package or module {source!r} (looked in {project.root}, its folders and the import path "
                f"of {self.options.python}). Give a folder relative to the project or a package name, e.g. "
                f"--cov-source src or --cov-source myservice."
            )

    def _importable(self, project: Project, name: str) -> bool:
        relative = Path(*name.split("."))
        # The project, src/ and any top-level folder (a pytest `pythonpath = lib` puts one on the import path).
        folders = (d for d in sorted(project.root.iterdir()) if d.is_dir() and not d.name.startswith("."))
        bases = [project.root, *folders]
        for base in bases:
            if (base / relative).is_dir() or (base / relative).with_suffix(".py").is_file():
                return True
        script = "import importlib.util, sys\nsys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)"
        try:
            done = subprocess.run([self.options.python, "-c", script, name], cwd=project.root, capture_output=True,
                                  timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0

    def _versions(self) -> Dict[str, Any]:
        """The versions the passes reported (versions.py); the interpreter asked only if none did."""
        for result in self.passes.values():
            if result.versions:
                return dict(result.versions)
        try:
            out = subprocess.run([self.options.python, "-c", versions.SCRIPT], capture_output=True, text=True,
                                 timeout=60)
            return dict(json.loads(out.stdout))
        except (OSError, ValueError, subprocess.SubprocessError):
            return {"python": None}

    def _resolve_thresholds(self, project: Project) -> Dict[str, Optional[Threshold]]:
        """The coverage minimum of each figure and where it was set.

        pytest-cov applies a minimum (its --cov-fail-under, else coverage.py's fail_under) inside
        each pass, to that pass's coverage alone, and fails the pass with no test failing: a project
        with fail_under = 95 failed both passes of a run whose combined coverage was 98%. The passes
        therefore run with --cov-fail-under=0, and the minimum pytest-cov would have used is checked
        here, once, on the combined figure. Precedence is pytest-cov's (the pytest arguments after --,
        then PYTEST_ADDOPTS, then the project's addopts, then the coverage config), below the runner's
        own --fail-under; a --cov-fail-under in --unit-args/--integration-args is that pass's minimum.
        Without coverage there is nothing to check, except what the user asked for explicitly.
        """
        opts = self.options
        resolved: Dict[str, Optional[Threshold]] = {}
        for key, flag in THRESHOLD_FLAGS.items():
            explicit = opts.fail_under.get(key)
            if explicit is not None:
                resolved[key] = Threshold(explicit, flag)
            elif not opts.coverage:
                resolved[key] = None
            elif key != "combined":
                resolved[key] = addopts_fail_under(opts.pass_args.get(key, []), f"--{key}-args")
            else:
                resolved[key] = (addopts_fail_under(opts.pytest_args, "the pytest arguments after --")
                                 or addopts_fail_under(self._env_addopts(), "PYTEST_ADDOPTS")
                                 or project.fail_under)
        return resolved

    def _suite_threshold_for_one_pass(self) -> None:
        """``--only KIND`` left the other kind's tests out: the project's own minimum is for its whole
        suite, so it is not checked (one pass alone was failed with exit 4, no test failing and nothing
        asked of it). ``--fail-under`` still is, and a suite with nothing left out still is."""
        threshold, only = self.thresholds.get("combined"), self.options.only
        if threshold is None or only is None or threshold.origin == THRESHOLD_FLAGS["combined"]:
            return
        if not self.passes.get(only) or not self.passes[only].deselected:
            return
        self.thresholds["combined"] = None
        self.console.line(f"async-test: the project's minimum coverage {threshold.percent:g}% ({threshold.origin}) "
                          f"is for its whole suite: not checked with --only {only}, which left "
                          f"{self.passes[only].deselected} test(s) out", "yellow")

