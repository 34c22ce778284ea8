"""What every part of ``async-test run`` shares: its options, the files it owns, and the run's state.

``Run`` (passes.py) is put together from one class per concern (setup, the passes, the server's
hand-over, stopping, the summary); each inherits ``RunState``, the attributes they all read.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ..sharding import RESULTS_DURATIONS, Shard
from ..summary.model import InfrastructureError
from . import affected_run
from .console import Console
from .project import Threshold
from .results import PassResult
from .results_folder import ResultsFolder
from .verdict import Verdict

if TYPE_CHECKING:  # background_server.py imports this module
    from .background_server import BackgroundServer


PASSES = ("unit", "integration")
THRESHOLD_FLAGS = {"unit": "--fail-under-unit", "integration": "--fail-under-integration", "combined": "--fail-under"}
SERVER_FILE = ".server.json"  # the server handed to a session that started before it was ready
OUR_OUTPUTS = (
    "junit-unit.xml", "junit-integration.xml", "coverage-unit.xml", "coverage-integration.xml", "coverage.xml",
    "coverage.json", "summary.json", "summary.md", "events-unit.jsonl", "events-integration.jsonl",
    ".coverage", ".coverage.unit", ".coverage.integration", "unit.log", "integration.log",
    # one session for both passes (session.py): split into the files above, the events kept
    "events-all.jsonl", "junit-all.xml", ".coverage.all", SERVER_FILE, SERVER_FILE + ".partial",
    RESULTS_DURATIONS,  # the tests' durations, for the next sharded run (sharding.py)
    # what a pytest process selected, and the tests a rerun may run (plugin/selection.py); removed once read
    "selected-unit.json", "selected-integration.json", "selected-all.json", "only-tests.json",
    # the session's integration part, set aside while the tests it did not run run again (rerun.py)
    "junit-integration.session.xml", ".coverage.integration.session",
    "comparison.json",  # --compare-with / async-test compare: this run against its base (baseline/)
    *affected_run.OUTPUTS,  # --record-map's testmap.json, --affected's selection (affected_run.py)
)
SELECTED_ENV = "ASYNC_TEST_SELECTED"  # plugin/selection.py's names (a test keeps them equal)
ONLY_ENV = "ASYNC_TEST_ONLY_TESTS"
ONLY_FILE = "only-tests.json"
# What each pass runs: ``python -m pytest``, except that a Ctrl-C landing while pytest still imports
# and configures itself (before it handles KeyboardInterrupt) ends it with one line, not a traceback
# of pytest's imports. The runner starts it with SIGINT blocked (_start_pytest), so a signal that


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2."""


@dataclass
class RunOptions:
    project_dir: str = "."
    results_dir: Optional[str] = None
    only: Optional[str] = None  # "unit" or "integration"
    parallel: bool = False
    separate_passes: bool = False  # each pass in its own pytest process (session.py says when it must)
    html: bool = False  # the coverage HTML report too (coverage_reports.build_reports)
    html_include_tests: bool = False  # the test files in the HTML report and its total (coverage_html)
    coverage: bool = True
    cov_source: List[str] = field(default_factory=list)
    fail_under: Dict[str, Optional[float]] = field(
        default_factory=lambda: {"unit": None, "integration": None, "combined": None})
    pass_args: Dict[str, List[str]] = field(default_factory=lambda: {"unit": [], "integration": []})
    pytest_args: List[str] = field(default_factory=list)
    python: str = sys.executable
    recorded_phases: Dict[str, float] = field(default_factory=dict)  # e.g. the container's dependency install
    install_source: Optional[str] = None  # the container's: which source the dependencies came from
    shard: Optional[Shard] = None  # --shard K/N: this run's part of the suite (plugin/shard.py selects it)
    durations_file: Optional[str] = None  # --durations-file: balances the shards (default: the project's)
    shard_split_modules: bool = False  # --shard-split-modules: single tests are assigned, not modules
    record_map: bool = False  # --record-map: testmap.json, which tests ran which functions (testmap.py)
    affected: Optional[str] = None  # --affected BASE_RESULTS: only the tests the change affects (affected.py)
    baseline_dir: Optional[str] = None  # --baseline DIR: store the run's baseline there (baseline/, issue 25)
    compare_with: Optional[str] = None  # --compare-with BASE: compare the run with that baseline (issue 25)


class RunState:
    """The state of one ``async-test run``, shared by the classes ``Run`` is made of."""

    def __init__(self, options: RunOptions, console: Optional[Console] = None) -> None:
        self.options = options
        self.console = console or Console()
        self.started_at = datetime.now(timezone.utc)
        self.began = time.monotonic()
        self.phases: Dict[str, float] = dict(options.recorded_phases)
        self.passes: Dict[str, PassResult] = {}
        self.two_processes_because: Optional[str] = "not decided yet"  # see session.fits
        self.children: List[subprocess.Popen[bytes]] = []
        self.interrupted = False
        self._signal_pipe: Optional[int] = None  # the stopper's wake-up (stopping.py)
        self.server: Optional[BackgroundServer] = None
        self.infrastructure_error: Optional[InfrastructureError] = None
        self.usage_message: Optional[str] = None
        self.secrets: List[str] = []
        # Passwords that outlive the run (database_url's): the passes' output is masked for them too.
        self.console_secrets: List[str] = []
        self.thresholds: Dict[str, Optional[Threshold]] = dict.fromkeys(THRESHOLD_FLAGS)
        self.bytecode: Dict[str, str] = {"PYTHONDONTWRITEBYTECODE": "1"}  # until the settings say where
        self.results_folder: Optional[ResultsFolder] = None
        self.results_error: Optional[str] = None  # results that could not be written (a full disk)
        self.durations_path: Optional[Path] = None  # the durations file the shards are balanced by
        self.empty_shard = False  # this shard had nothing to run (more shards than modules): not a failure
        self.affected: Optional[affected_run.Prepared] = None  # --affected: what was selected, or why not
        # --affected: the thresholds, set aside until the coverage is carried forward (passes._carry_forward),
        # and (carried?, the reports' line, how many files) once it was or was not.
        self.suite_thresholds: Dict[str, Optional[Threshold]] = {}
        self.coverage_carried: Optional[Tuple[bool, str, Optional[int]]] = None
        self.verdict: Optional[Verdict] = None  # decided once the passes and coverage are done (verdict.py)

    @staticmethod
    def _env_addopts() -> List[str]:
        """PYTEST_ADDOPTS split as pytest splits it (pytest itself reports one it cannot split)."""
        try:
            return shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
        except ValueError:
            return []
