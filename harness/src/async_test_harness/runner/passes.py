"""``async-test run``: the unit pass, the integration pass, coverage, one results folder.

Each pass is its own pytest process with the plugin, its own JUnit file,
coverage data and event log; PostgreSQL starts in the background while the
unit pass runs (which needs no database), and is stopped whatever happens.
The exit code says what went wrong first: interrupted, infrastructure,
configuration, tests, coverage, nothing to test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .. import __version__, phases, versions
from ..masking import mask_stream, mask_text
from ..messages import one_line
from ..settings import Settings, SettingsError, from_environment
from ..sharding import DURATIONS_FILE, RESULTS_DURATIONS, Shard, ShardError, durations_text, read_durations
from ..summary.format import pct
from ..summary.model import (
    TOOL_NAME,
    AffectedInfo,
    Coverage,
    Exit,
    InfrastructureError,
    Passes,
    PerFigure,
    ProjectPaths,
    ShardInfo,
    Summary,
    Tool,
)
from . import affected_run, bytecode, coverage_reports, session
from .coverage_reports import build_reports
from .project import Project, ProjectError, Threshold, addopts_fail_under, find_project, option_values
from .results import PassResult, merge_collection_errors, read_events, write_summary
from .results_folder import ResultsDirError, ResultsFolder, claim, clean_text, write_atomically

if TYPE_CHECKING:  # postgres.py (and asyncio with it) is imported only when a pass needs the server
    from ..server.postgres import ServerInfo

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRASTRUCTURE = 3
EXIT_COVERAGE = 4
EXIT_NO_TESTS = 5
EXIT_INTERRUPTED = 130

EXIT_REASONS = {
    EXIT_OK: ("ok", "all selected tests passed"),
    EXIT_TESTS_FAILED: ("tests_failed", "tests failed"),
    EXIT_USAGE: ("usage_error", "usage or configuration error"),
    EXIT_INFRASTRUCTURE: ("infrastructure_error", "infrastructure failure"),
    EXIT_COVERAGE: ("coverage_below_threshold", "coverage below threshold"),
    EXIT_NO_TESTS: ("no_tests", "no tests collected in either pass"),
    EXIT_INTERRUPTED: ("interrupted", "interrupted"),
}

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
    *affected_run.OUTPUTS,  # --record-map's testmap.json, --affected's selection (affected_run.py)
)
# What each pass runs: ``python -m pytest``, except that a Ctrl-C landing while pytest still imports
# and configures itself (before it handles KeyboardInterrupt) ends it with one line, not a traceback
# of pytest's imports. The runner starts it with SIGINT blocked (_start_pytest), so a signal that
# arrives before this code runs waits, pending, until the try block is in place.
PYTEST_MAIN = (
    "import runpy, signal, sys\n"
    "try:\n"
    "    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])\n"
    "    runpy.run_module('pytest', run_name='__main__', alter_sys=True)\n"  # python -m pytest, exactly
    "except KeyboardInterrupt:\n"
    # The terminal's SIGINT and the runner's both come, and the second may land while the first is
    # handled: ignore SIGINT from here on, retried until a KeyboardInterrupt no longer cuts it short
    # (once SIG_IGN is set, a signal that already arrived raises nothing more).
    "    while True:\n"
    "        try:\n"
    "            signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "            break\n"
    "        except KeyboardInterrupt:\n"
    "            pass\n"
    "    sys.stderr.write('async-test: pytest was interrupted while it started\\n')\n"
    "    sys.exit(2)\n"
)


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


def colour_asked() -> Optional[bool]:
    """ASYNC_TEST_COLOR (the action sets yes: GitHub's log shows colours, though written to a pipe),
    then FORCE_COLOR; NO_COLOR wins. None: not asked either way (a terminal decides)."""
    if os.environ.get("NO_COLOR"):
        return False
    asked = os.environ.get("ASYNC_TEST_COLOR", "").strip().lower()
    if asked in ("yes", "no"):
        return asked == "yes"
    return True if os.environ.get("FORCE_COLOR") else None


def colour_wanted(stream: Any) -> bool:
    asked = colour_asked()
    return asked if asked is not None else bool(hasattr(stream, "isatty") and stream.isatty())


def shown(path: Any) -> str:
    """A path as the user sees it: under ``docker run`` the runner sees the repository at /workspace
    (ASYNC_TEST_WORKSPACE), the user at ASYNC_TEST_HOST_WORKSPACE (the action sets it to
    GITHUB_WORKSPACE; docs/container.md tells docker run users to pass "$PWD"). Only the runner's own
    messages use it; summary.json and the tests' output keep the paths the run saw."""
    text = str(path)
    host = os.environ.get("ASYNC_TEST_HOST_WORKSPACE", "").rstrip("/")
    mount = (os.environ.get("ASYNC_TEST_WORKSPACE") or "/workspace").rstrip("/")
    if host and mount and (text == mount or text.startswith(mount + "/")):
        return host + text[len(mount):]
    return text


class Console:
    """Plain text for CI logs; a little emphasis on a terminal, or in a log that asks for colour."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = colour_wanted(self.stream)

    def line(self, text: str = "", style: str = "") -> None:
        codes = {"bold": "1", "red": "1;31", "green": "1;32", "yellow": "1;33", "dim": "2"}
        if self.tty and style in codes:
            text = f"\033[{codes[style]}m{text}\033[0m"
        self.write(text + "\n")

    def write(self, text: str) -> None:
        """Write any text: a lone surrogate or a character the console's encoding lacks is escaped.

        Test output and ids reach the console (a failure's reason, a pass's log under --parallel);
        one undecodable byte in them used to end the run with UnicodeEncodeError.
        """
        text = clean_text(text)
        try:
            self.stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        self.stream.flush()

    def rule(self, phase: str) -> None:
        """A phase line (phases.py): the action makes each one a collapsible group on GitHub."""
        self.line(phases.line(phase), "bold")

    def elapsed(self, what: str, seconds: float) -> None:
        """The line that ends a phase, with its time: progress in a log that shows no clock."""
        self.line(f"async-test: {what} in {seconds:.1f}s", "dim")


class BackgroundServer:
    """Starts the ephemeral server in a thread so the unit pass does not wait for it."""

    def __init__(self, settings: Settings) -> None:
        from ..server.provision import server_for

        self.handle = server_for(settings)
        self.info: Optional[ServerInfo] = None
        self.error: Optional[str] = None
        self.seconds = 0.0
        self.waited = False  # by the runner (Run._wait_for_server), which then records the phases
        self._thread = threading.Thread(target=self._start, name="async-test-postgres", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from ..server.postgres import PostgresError

        began = time.monotonic()
        try:
            self.info = self.handle.start()
        except PostgresError as exc:
            self.error = str(exc)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        self.seconds = time.monotonic() - began

    def wait(self) -> Optional[ServerInfo]:
        self._thread.join()
        return self.info

    def alive(self) -> bool:
        proc = self.handle.process
        if self.info is None or proc is None or proc.poll() is not None:
            return False
        try:
            os.kill(self.info.pid, 0)
        except OSError:
            return False
        import socket

        try:
            socket.create_connection((self.info.host, self.info.port), timeout=2).close()
        except OSError:
            return False
        return True

    def log_tail(self) -> str:
        if self.info is None:
            return ""
        try:
            lines = (Path(self.info.workdir) / "server.log").read_text(errors="replace").splitlines()
            return "\n".join(lines[-15:])
        except OSError:
            return ""

    def stop(self) -> None:
        self._thread.join()
        self.handle.stop()


class Run:
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

    # ------------------------------------------------------------------ setup

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
        if not shutil.which(python):
            raise UsageError(
                f"--python {python}: no such interpreter (not found, or not an executable file). Give the Python "
                "that has your test dependencies and pytest installed, e.g. --python .venv/bin/python."
            )

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

    # ------------------------------------------------------------------ passes

    def _command(self, kind: str, project: Project, results: Path) -> List[str]:
        cmd = [self.options.python, "-c", PYTEST_MAIN, f"--async-test-kind={kind}",
               f"--junitxml={results / f'junit-{kind}.xml'}", "-o", "junit_family=xunit1",
               "-o", f"cache_dir={results / '.pytest_cache'}"]
        if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
            cmd += ["-p", "async_test_harness.plugin.hooks", "-p", "pytest_asyncio", "-p", "pytest_cov"]
        if self.options.shard is not None:
            cmd += [f"--async-test-shard={self.options.shard}"]
            if self.durations_path is not None:
                cmd += [f"--async-test-durations={self.durations_path}"]
            if self.options.shard_split_modules:
                cmd += ["--async-test-shard-split-modules"]
        if self.affected is not None and self.affected.path is not None:
            cmd += [f"--async-test-select={self.affected.path}"]
        if self.options.coverage:
            if not project.sources_from_addopts:
                # The project's own --cov=SRC measures in every pass already; naming SRC again adds nothing.
                cmd += [f"--cov={s}" for s in project.source_arguments()] or ["--cov"]
            cmd += ["--cov-report="]
        if colour_asked() and os.environ.get("ASYNC_TEST_COLOR", "").strip().lower() == "yes":
            cmd += ["--color=yes"]  # pytest's output is piped or captured: it would not colour itself
        user = self.options.pass_args.get(kind, []) + self.options.pytest_args
        # Last, so it beats the project's addopts, PYTEST_ADDOPTS and the user's arguments (pytest puts
        # both addopts before the command line; argparse keeps the last value). See _resolve_thresholds.
        if self.options.coverage:
            closing = ["--cov-fail-under=0"]
        elif self._uses_pytest_cov(project, user):
            closing = ["--no-cov"]  # the project's own --cov would measure, and apply fail_under, regardless
        else:
            closing = []
        cut = user.index("--") if "--" in user else len(user)  # after a bare --, words are paths
        return cmd + user[:cut] + closing + user[cut:]

    @staticmethod
    def _env_addopts() -> List[str]:
        """PYTEST_ADDOPTS split as pytest splits it (pytest itself reports one it cannot split)."""
        try:
            return shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
        except ValueError:
            return []

    def _uses_pytest_cov(self, project: Project, user: List[str]) -> bool:
        """Whether pytest-cov will measure in a pass although the runner did not ask it to."""
        return bool(option_values(project.addopts + self._env_addopts() + user, "--cov"))

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

    def _env(self, kind: str, results: Path) -> Dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ASYNC_TEST_KIND": kind,
            "ASYNC_TEST_EVENTS": str(results / f"events-{kind}.jsonl"),
            "COVERAGE_FILE": str(results / f".coverage.{kind}"),
        })
        env.update(self.bytecode)  # never a __pycache__ in the user's tree; compiled once (bytecode.py)
        if kind in ("integration", session.KIND) and self.server is not None:
            from ..server import provision

            if self.server.info is not None:
                env.update(provision.describe_owned_server(self.server.info))
            elif kind == session.KIND:  # still starting: the session waits for it, after its own start-up
                env.update(provision.describe_owned_server_later(self._hand_over(results)))
        if kind == session.KIND:
            env.update(session.environment(results))
            if self.options.record_map and self.options.coverage:
                env[session.PER_TEST_ENV] = "1"
        return env

    def _run_pass(self, kind: str, project: Project, results: Path, log: bool) -> PassResult:
        began = time.monotonic()
        cmd = self._command(kind, project, results)
        out: Any = None
        if log:
            out = open(results / f"{kind}.log", "wb")
        try:
            proc = self._start_pytest(cmd, project, self._env(kind, results), out, pipe=bool(self.console_secrets))
            self.children.append(proc)
            if self.interrupted:  # the signal came after this pass was decided on, before it started
                threading.Thread(target=self._stop_children, name="async-test-stop", daemon=True).start()
            pump = self._mask_output(proc, out)
            if self.options.coverage:
                coverage_reports.prepare_in_background()
            rc = proc.wait()
            if pump is not None:
                pump.join(timeout=5)  # a process the tests left behind may hold the pipe: do not wait for it
        except OSError as exc:  # checked in _prepare; still possible (a binary deleted meanwhile, no memory)
            result = PassResult(kind, status="error", exit_code=None)
            result.usage_error = f"could not start pytest with {self.options.python}: {exc.strerror or exc}"
            result.status_reason = (f"{result.usage_error}; check --python (the interpreter that runs the tests)")
            return result
        finally:
            if out is not None:
                out.close()
        events = results / f"events-{kind}.jsonl"
        result = read_events(events, kind, project)
        result.exit_code = rc
        result.duration_seconds = time.monotonic() - began
        self.phases[f"{kind}_pass"] = round(result.duration_seconds, 3)
        result.status = self._status(rc, result)
        if result.status == "error" and not result.infrastructure_error:
            log_file = results / f"{kind}.log"
            where = str(log_file) if log else f"the {kind} pass's output in the console log"
            result.status_reason = self._unexplained_exit(rc, result, events.exists(), where)
        return result

    @staticmethod
    def _start_pytest(cmd: List[str], project: Project, env: Dict[str, str], out: Any,
                      pipe: bool = False) -> subprocess.Popen[bytes]:
        """Start a pass with SIGINT blocked; PYTEST_MAIN unblocks it once it can handle it quietly.

        A terminal's Ctrl-C reaches the whole process group: a pass still importing pytest died with
        a KeyboardInterrupt traceback. The mask is this thread's only, and is inherited by the child.
        """
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
        try:
            return subprocess.Popen(cmd, cwd=project.root, env=env, stdout=subprocess.PIPE if pipe else out,
                                    stderr=subprocess.STDOUT if out is not None or pipe else None)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _mask_output(self, proc: subprocess.Popen[bytes], out: Any) -> Optional[threading.Thread]:
        """Copy a piped pass's output, masked, to its log file or the console (see console_secrets).

        A pass's output is pytest's own, with whatever the tests print; it reaches the CI log, which
        outlives the run, so a password that outlives the run is masked there too. Without one the
        output is not piped: pytest keeps the terminal (colours, progress as it happens).
        """
        if proc.stdout is None:
            return None
        source = proc.stdout
        stream = self.console.stream
        buffer = getattr(stream, "buffer", None)

        def write(data: bytes) -> None:
            if out is not None:
                out.write(data)
            elif buffer is not None:
                stream.flush()
                buffer.write(data)
                buffer.flush()
            else:
                stream.write(data.decode("utf-8", "replace"))
                stream.flush()

        def pump() -> None:
            try:
                mask_stream(source, write, self.console_secrets)
            except (OSError, ValueError):
                pass  # the log file closed under a process the tests left behind
            finally:
                source.close()

        thread = threading.Thread(target=pump, name="async-test-mask", daemon=True)
        thread.start()
        return thread

    def _status(self, rc: int, result: PassResult) -> str:
        """The pass's status from pytest's exit code, read against what the tests reported.

        "failed" always comes with the failures that caused it: pytest's exit code 1 also means a
        plugin or hook failed the session with no test failing (pytest-cov's fail-under did, before
        the passes ran with it at 0), and 2 also means pytest.exit() in a test. Such a pass is an
        "error", and _unexplained_exit says what happened instead of "tests failed" and an empty list.
        """
        if self.interrupted:
            return "interrupted"
        if result.infrastructure_error:
            return "error"
        if rc == 0:
            return "passed"
        if rc == 5:
            return "empty"
        if (rc == 1 and result.failures) or (rc == 2 and any(f.when == "collect" for f in result.failures)):
            return "failed"
        return "error"

    @staticmethod
    def _unexplained_exit(rc: int, result: PassResult, recorded: bool, where: str) -> str:
        """One line for a pass whose exit code its tests do not explain; ``where`` is where its output is."""
        if rc == 1 and not recorded:
            return (f"pytest exited 1 (tests failed) but the async-test plugin recorded nothing in this pass, so "
                    f"its failures cannot be listed: the plugin did not run (disabled with -p no:async_test, or "
                    f"not installed for this interpreter?); see {where}")
        if rc == 1:
            return (f"pytest exited 1 (tests failed) but no test failed or errored: a plugin or a conftest.py hook "
                    f"failed the session; see {where}")
        if rc == 2:
            return (f"pytest stopped early (its exit code 2, interrupted) but async-test did not stop it: "
                    f"a test or hook called pytest.exit() or raised KeyboardInterrupt; see {where}")
        if rc == 3:
            return f"pytest stopped with an internal error (its exit code 3), raised by a plugin or a hook; see {where}"
        if rc == 4:
            return (f"usage or configuration error: {result.usage_error}" if result.usage_error else
                    f"pytest stopped before running tests (its exit code 4: a bad option or ini value, or a "
                    f"conftest.py that fails to import); its message is in {where}")
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            hint = " (out of memory?)" if -rc == signal.SIGKILL else ""
            return f"pytest was killed by {name}{hint} before it finished; see {where}"
        return (f"pytest exited {rc}, which is none of pytest's exit codes: a test or plugin called sys.exit({rc}) "
                f"or os._exit({rc}); see {where}")

    def _hand_over(self, results: Path) -> Path:
        """Where the server starting in the background will be described for the session, once it is
        ready (server/provision.py): pytest imports itself and the project meanwhile."""
        from ..server import provision

        path = results / SERVER_FILE
        path.unlink(missing_ok=True)
        server = self.server
        assert server is not None

        def publish() -> None:
            server.wait()
            try:
                provision.publish_owned_server(path, server.info, server.error)
            except OSError:
                pass  # the session then reports that it waited in vain

        threading.Thread(target=publish, name="async-test-hand-over", daemon=True).start()
        return path

    def _one_session(self, project: Project, results: Path) -> bool:
        """Both passes in one pytest process (session.py); False when the server did not start
        (the unit pass then runs on its own, as it would without a database)."""
        if self.interrupted:
            self.passes = {k: PassResult(k, status="interrupted") for k in PASSES}
            return True
        self.console.rule(phases.SESSION)
        whole = self._run_pass(session.KIND, project, results, False)
        (results / SERVER_FILE).unlink(missing_ok=True)
        self.console.elapsed("unit then integration tests ended", whole.duration_seconds)
        if self._wait_for_server() is not None:  # the session itself said how PostgreSQL started
            # The session stopped before its first conftest (the plugin could not get its database):
            # the unit tests get a process of their own, as a run without PostgreSQL gave them.
            for name in (f"events-{session.KIND}.jsonl", f"junit-{session.KIND}.xml", f".coverage.{session.KIND}"):
                (results / name).unlink(missing_ok=True)
            self.phases.pop(f"{session.KIND}_pass", None)
            return False
        rc = whole.exit_code
        events = results / f"events-{session.KIND}.jsonl"
        split = {kind: read_events(events, kind, project, only_kind=True) for kind in PASSES}
        shares = session.share_time(whole.duration_seconds, {k: r.test_seconds for k, r in split.items()})
        self.phases["session"] = self.phases.pop(f"{session.KIND}_pass", round(whole.duration_seconds, 3))
        for kind, result in split.items():
            other = split["integration" if kind == "unit" else "unit"]
            result.deselected = whole.deselected + other.counts["total"]
            result.duration_seconds = shares[kind]
            self.phases[f"{kind}_pass"] = round(shares[kind], 3)
        failed_any = any(result.failures for result in split.values())
        beyond_tests = rc is None or rc not in (0, 1, 5) or (rc == 1 and not failed_any)
        # Unit tests run first: once an integration test has reported, the unit tests were all done,
        # and a crash, pytest.exit() or a lost server after that is the integration pass's alone.
        unit_done = ((split["unit"].all_reported or split["integration"].counts["total"] > 0)
                     and not (rc == 1 and not failed_any))
        for kind, result in split.items():
            if beyond_tests and not (kind == "unit" and unit_done):  # the session's own exit: this pass shows it
                result.exit_code = rc
                result.status = self._status(rc if rc is not None else -1, result)
                if result.status == "error" and not result.infrastructure_error:
                    where = "the session's output in the console log"
                    result.status_reason = (whole.status_reason if rc is None else
                                            self._unexplained_exit(rc, result, events.exists(), where))
            else:
                own = 1 if result.failures else (0 if result.counts["total"] else 5)
                result.exit_code = own
                result.status = self._status(own, result)
        crashed_early = (beyond_tests and not self.interrupted and rc not in (2, 4) and not unit_done
                         and not any(f.when == "collect" for f in split["unit"].failures))
        if crashed_early:
            # The session ended before any integration test ran: they get a process of their own, as
            # a crash in the unit pass never cost the integration pass its results.
            self.console.rule(phases.INTEGRATION_AGAIN)
            split["integration"] = self._integration(project, results, False)
        else:
            self._note_lost_server(split["integration"])
        session.split_junit(results / f"junit-{session.KIND}.xml", results)
        if self.options.coverage and self.options.record_map:
            ran = [n for r in split.values() for n in r.durations]
            failed = [f.nodeid for r in split.values() for f in r.failures]
            self.console.line(affected_run.record(results / f".coverage.{session.KIND}", results, project, ran, failed))
        if self.options.coverage:
            session.split_coverage(results / f".coverage.{session.KIND}", results)
        self.passes = split
        return True

    def _integration_blocked(self, reason: str) -> PassResult:
        result = PassResult("integration", status="error")
        result.infrastructure_error = InfrastructureError("database", reason)
        return result

    def _wait_for_server(self) -> Optional[str]:
        """Wait for the background server (if the runner starts one); why it did not start, if it did not."""
        if self.server is None or self.server.waited:
            return self.server.error if self.server is not None else None
        waited = time.monotonic()
        self.server.wait()
        self.server.waited = True
        self.phases["database_wait"] = round(time.monotonic() - waited, 3)
        self.phases["database_start"] = round(self.server.seconds, 3)
        if self.server.error:
            return self.server.error
        assert self.server.info is not None
        self.secrets.append(self.server.info.password)
        return None

    def _announce_server(self) -> None:
        """Before the integration pass: wait for the server started in the background and say how its
        start went, with its times, as a phase of its own (a slow or failed start is seen there)."""
        if self.server is None or self.server.waited:
            return
        self.console.rule(phases.POSTGRES)
        error = self._wait_for_server()
        waited = self.phases.get("database_wait", 0.0)
        if error is not None:
            self.console.line(f"async-test: PostgreSQL did not start ({self.server.seconds:.1f}s): {one_line(error)}",
                              "red")
        elif self.server.info is not None:
            self.console.line(f"async-test: PostgreSQL {self.server.info.version} started in the background in "
                              f"{self.server.seconds:.1f}s; the integration pass waited {waited:.1f}s for it", "dim")

    def _integration(self, project: Project, results: Path, log: bool) -> PassResult:
        error = self._wait_for_server()
        if error is not None:
            return self._integration_blocked(f"PostgreSQL did not start: {error}")
        if self.interrupted:
            return PassResult("integration", status="interrupted")
        result = self._run_pass("integration", project, results, log)
        self._note_lost_server(result)
        return result

    def _note_lost_server(self, result: PassResult) -> None:
        """The server died while the integration tests ran: that explains their failures, say so."""
        if self.server is None or self.interrupted or self.server.alive():
            return
        tail = self.server.log_tail()
        result.infrastructure_error = InfrastructureError(
            "database",
            "PostgreSQL stopped during the integration pass; tests that failed after that point "
            "failed for that reason." + (f" Server log:\n{tail}" if tail else ""),
        )
        result.status = "error"

    # ------------------------------------------------------------------ signals

    # SIGINT lets pytest write its results and run teardown; a second one gets past code that is
    # blocked inside asyncio's own SIGINT handling (a running loop only cancels its task on the first).
    # Docker's stop waits 10 s before SIGKILL, so the whole sequence fits in that.
    STOP_SEQUENCE = ((signal.SIGINT, 2.0), (signal.SIGINT, 4.0), (signal.SIGKILL, 2.0))

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            return
        self.interrupted = True
        self.console.line(f"async-test: {signal.Signals(signum).name} received: stopping the tests", "yellow")
        threading.Thread(target=self._stop_children, name="async-test-stop", daemon=True).start()

    def _stop_children(self) -> None:
        for sig, grace in self.STOP_SEQUENCE:
            running = [c for c in self.children if c.poll() is None]
            if not running:
                return
            for child in running:
                try:
                    child.send_signal(sig)
                except OSError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(c.poll() is None for c in running):
                time.sleep(0.05)

    # ------------------------------------------------------------------ main

    def execute(self) -> int:
        # Read before the results folder is claimed: --affected may name this run's own folder.
        base_map = affected_run.load(Path(self.options.affected)) if self.options.affected is not None else None
        try:
            project, settings, results = self._prepare()
        except UsageError as exc:
            self.console.line(f"async-test: {exc}", "red")
            return EXIT_USAGE
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._execute(project, settings, results, base_map)
        finally:
            if self.server is not None:
                self.server.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
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
                self.thresholds = {k: None for k in self.thresholds}  # part of the suite: its figures cover only it
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
        self._write_durations(results)
        self._suite_threshold_for_one_pass()
        code, below = self._exit_code(coverage)
        summary = self._summary(project, settings, results, self._versions(), coverage, code, below)
        try:
            write_summary(results, summary)
            written = True
            if opts.baseline_dir:  # issue 25: the run's baseline, for later runs to be compared with
                from ..baseline.command import store_after_run

                store_after_run(results, Path(opts.baseline_dir).resolve(), lambda text: self.console.line(text))
            if opts.baseline_dir and opts.record_map:  # issue 26: the map travels with the baseline
                self.console.line(affected_run.store_with_baseline(results, Path(opts.baseline_dir).resolve()))
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
        return code

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

    def _shard_selected(self) -> Optional[int]:
        for result in self.passes.values():
            if result.shard and isinstance(result.shard.get("selected"), int):
                return int(result.shard["selected"])
        return None

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

    def _exit_code(self, coverage: Coverage) -> tuple[int, List[str]]:
        below = []
        for key, threshold in self.thresholds.items():
            measured = coverage.figure(key)
            if threshold is not None and (measured is None or measured.percent < threshold.percent):
                got = f"{measured.percent:.2f}%" if measured else "no data"
                # A threshold from the project's files names them: nobody typed it on this command line.
                origin = "" if threshold.origin == THRESHOLD_FLAGS[key] else f" ({threshold.origin})"
                below.append(f"{key} coverage {got} < {threshold.percent:g}%{origin}")
        passes = [p for p in self.passes.values() if p.selected]
        if self.interrupted:
            return EXIT_INTERRUPTED, below
        infra = [p.infrastructure_error for p in passes if p.infrastructure_error]
        if infra:
            self.infrastructure_error = infra[0]
            return EXIT_INFRASTRUCTURE, below
        if self.results_error:
            self.infrastructure_error = InfrastructureError("results", self.results_error)
            return EXIT_INFRASTRUCTURE, below
        if any(p.exit_code == 4 or p.usage_error for p in passes):
            return EXIT_USAGE, below
        if any(p.status in ("failed", "error") for p in passes):
            return EXIT_TESTS_FAILED, below
        if below and self.options.shard is None:
            return EXIT_COVERAGE, below
        if all(p.status == "empty" for p in passes):
            if self.options.shard is not None and self._shard_collected() != 0:
                self.empty_shard = True  # more shards than modules: another shard runs every test
                return EXIT_OK, below
            if self.affected is not None and affected_run.counts(self.affected)[1]:
                return EXIT_OK, below  # --affected: the change reaches none of the collected tests ("ran 0 of N")
            return EXIT_NO_TESTS, below
        return EXIT_OK, below

    def _summary(self, project: Project, settings: Settings, results: Path, versions: Dict[str, Any],
                 coverage: Coverage, code: int, below: List[str]) -> Summary:
        name, reason = EXIT_REASONS[code]
        if self.empty_shard:
            reason = f"shard {self.options.shard} had nothing to run: the other shards run every test"
        if self.options.shard is not None and below:
            # Not applied here (a shard holds part of the suite): async-test combine checks them.
            below = []
        if code == EXIT_INFRASTRUCTURE and self.infrastructure_error:
            reason = f"infrastructure failure: {one_line(self.infrastructure_error.message)}"
        elif code == EXIT_COVERAGE:
            reason = "; ".join(below)
        elif code in (EXIT_TESTS_FAILED, EXIT_USAGE):
            # Failed tests speak for themselves (they are listed); a pass that ended without one that explains
            # it (killed, an internal error) says why, even when the other pass has failures to list.
            failed = any(p.status == "failed" for p in self.passes.values())
            unexplained = [f"{p.kind} pass: {p.status_reason}" for p in self.passes.values() if p.status_reason]
            if unexplained:
                reason = "; ".join(([reason] if failed and code == EXIT_TESTS_FAILED else []) + unexplained)
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
                             self._shard_collected()) if self.options.shard is not None else None),
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
                c.line(f"  affected    {len(sel.changed)} changed file(s) since the map's commit; "
                       "coverage thresholds not checked (the figures cover only the tests that run)")
                for note in sel.notes[:20]:
                    c.line(f"              {note}")

    def _affected_info(self) -> Optional[AffectedInfo]:
        """The summary's part of an --affected run: "ran 37 of 1,204 tests (affected by 2 changed files)"."""
        if self.affected is None:
            return None
        sel = self.affected.selection
        selected, collected = affected_run.counts(self.affected)
        return AffectedInfo(sel.describe(selected, collected), sel.run_all, sel.reason or None, selected, collected,
                            len(sel.changed))

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
        how = ""
        if len(selected) == 2:
            how = (" (one pytest session)" if self.two_processes_because is None
                   else f" (two processes: {self.two_processes_because})")
        c.line(f"  passes      {' then '.join(selected) if not self.options.parallel else ' and '.join(selected)}{how}")
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
        if self.empty_shard:
            c.line(f"shard {self.options.shard} had nothing to run: there are more shards than test modules, and "
                   "the other shards run every test (not a failure)", "yellow")
        for p in summary.passes:
            if p.status_reason:
                c.line(f"{p.kind} pass {p.status}: {p.status_reason}", "red")
            for warning in p.warnings:
                c.line(f"warning ({p.kind}): {warning}", "yellow")
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
