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
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from . import __version__
from .connection import mask_text
from .coverage_report import build_reports
from .project import Project, ProjectError, Threshold, addopts_fail_under, find_project, option_values
from .results import SCHEMA_VERSION, PassResult, read_events, write_summary
from .settings import Settings, SettingsError, from_environment

if TYPE_CHECKING:  # postgres.py (and asyncio with it) is imported only when a pass needs the server
    from .postgres import ServerInfo

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
OUR_OUTPUTS = (
    "junit-unit.xml", "junit-integration.xml", "coverage-unit.xml", "coverage-integration.xml", "coverage.xml",
    "coverage.json", "summary.json", "summary.md", "events-unit.jsonl", "events-integration.jsonl",
    ".coverage", ".coverage.unit", ".coverage.integration", "unit.log", "integration.log",
)


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2."""


@dataclass
class RunOptions:
    project_dir: str = "."
    results_dir: Optional[str] = None
    only: Optional[str] = None  # "unit" or "integration"
    parallel: bool = False
    coverage: bool = True
    cov_source: List[str] = field(default_factory=list)
    fail_under: Dict[str, Optional[float]] = field(
        default_factory=lambda: {"unit": None, "integration": None, "combined": None})
    pass_args: Dict[str, List[str]] = field(default_factory=lambda: {"unit": [], "integration": []})
    pytest_args: List[str] = field(default_factory=list)
    python: str = sys.executable
    recorded_phases: Dict[str, float] = field(default_factory=dict)  # e.g. the container's dependency install


class Console:
    """Plain text for CI logs; a little emphasis on a terminal."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty() and not os.environ.get("NO_COLOR")

    def line(self, text: str = "", style: str = "") -> None:
        codes = {"bold": "1", "red": "1;31", "green": "1;32", "yellow": "1;33", "dim": "2"}
        if self.tty and style in codes:
            text = f"\033[{codes[style]}m{text}\033[0m"
        self.stream.write(text + "\n")
        self.stream.flush()

    def rule(self, title: str) -> None:
        self.line(f"── {title} " + "─" * max(4, 66 - len(title)), "bold")


class BackgroundServer:
    """Starts the ephemeral server in a thread so the unit pass does not wait for it."""

    def __init__(self, settings: Settings) -> None:
        from .provision import server_for

        self.handle = server_for(settings)
        self.info: Optional[ServerInfo] = None
        self.error: Optional[str] = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._start, name="async-test-postgres", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from .postgres import PostgresError

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

    @property
    def admin_url(self) -> str:
        assert self.info is not None
        i = self.info
        return f"postgresql://{i.user}:{i.password}@{i.host}:{i.port}/postgres"


class Run:
    def __init__(self, options: RunOptions, console: Optional[Console] = None) -> None:
        self.options = options
        self.console = console or Console()
        self.started_at = datetime.now(timezone.utc)
        self.began = time.monotonic()
        self.phases: Dict[str, float] = dict(options.recorded_phases)
        self.passes: Dict[str, PassResult] = {}
        self.children: List[subprocess.Popen[bytes]] = []
        self.interrupted = False
        self.server: Optional[BackgroundServer] = None
        self.infrastructure_error: Optional[Dict[str, Any]] = None
        self.usage_message: Optional[str] = None
        self.secrets: List[str] = []
        self.thresholds: Dict[str, Optional[Threshold]] = dict.fromkeys(THRESHOLD_FLAGS)

    # ------------------------------------------------------------------ setup

    def _prepare(self) -> tuple[Project, Settings, Path]:
        opts = self.options
        if opts.only not in (None, "unit", "integration"):
            raise UsageError(f"--only is {opts.only!r}; valid values: unit, integration.")
        try:
            project = find_project(opts.project_dir, opts.cov_source or None)
            settings = from_environment(os.environ, project.root)
        except (ProjectError, SettingsError) as exc:
            raise UsageError(str(exc)) from None
        if settings.database_url:
            from .connection import parse_url

            self.secrets.append(parse_url(settings.database_url).password)
        results = Path(opts.results_dir) if opts.results_dir else project.root / ".async-test"
        if not results.is_absolute():
            results = (Path.cwd() / results).resolve()
        try:
            results.mkdir(parents=True, exist_ok=True)
            probe = results / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise UsageError(
                f"The results folder {results} is not writable ({exc.strerror or exc}). Choose another with "
                "--results-dir, or fix its permissions."
            ) from None
        gitignore = results / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("*\n")
        for name in OUR_OUTPUTS:
            (results / name).unlink(missing_ok=True)
        shutil.rmtree(results / "html", ignore_errors=True)
        return project, settings, results

    def _versions(self) -> Dict[str, Optional[str]]:
        script = (
            "import json, platform\n"
            "from importlib.metadata import version, PackageNotFoundError\n"
            "def v(n):\n"
            "    try: return version(n)\n"
            "    except PackageNotFoundError: return None\n"
            "print(json.dumps({'python': platform.python_version(), 'pytest': v('pytest'),"
            " 'pytest_asyncio': v('pytest-asyncio'), 'sqlalchemy': v('sqlalchemy'), 'asyncpg': v('asyncpg'),"
            " 'coverage': v('coverage'), 'pytest_cov': v('pytest-cov'), 'harness': v('async-test-harness')}))"
        )
        try:
            out = subprocess.run([self.options.python, "-c", script], capture_output=True, text=True, timeout=60)
            return dict(json.loads(out.stdout))
        except (OSError, ValueError, subprocess.SubprocessError):
            return {"python": None}

    # ------------------------------------------------------------------ passes

    def _command(self, kind: str, project: Project, results: Path) -> List[str]:
        cmd = [self.options.python, "-m", "pytest", f"--async-test-kind={kind}",
               f"--junitxml={results / f'junit-{kind}.xml'}", "-o", "junit_family=xunit1",
               "-o", f"cache_dir={results / '.pytest_cache'}"]
        if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
            cmd += ["-p", "async_test_harness.plugin", "-p", "pytest_asyncio", "-p", "pytest_cov"]
        if self.options.coverage:
            if not project.sources_from_addopts:
                # The project's own --cov=SRC measures in every pass already; naming SRC again adds nothing.
                cmd += [f"--cov={s}" for s in project.source_arguments()] or ["--cov"]
            cmd += ["--cov-report="]
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
            "PYTHONDONTWRITEBYTECODE": "1",  # never write __pycache__ into the user's tree
        })
        if kind == "integration" and self.server is not None and self.server.info is not None:
            env["ASYNC_TEST_DATABASE_URL"] = self.server.admin_url
        return env

    def _run_pass(self, kind: str, project: Project, results: Path, log: bool) -> PassResult:
        began = time.monotonic()
        cmd = self._command(kind, project, results)
        out: Any = None
        if log:
            out = open(results / f"{kind}.log", "wb")
        try:
            proc = subprocess.Popen(cmd, cwd=project.root, env=self._env(kind, results), stdout=out,
                                    stderr=subprocess.STDOUT if log else None)
            self.children.append(proc)
            rc = proc.wait()
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
        if (rc == 1 and result.failures) or (rc == 2 and any(f["when"] == "collect" for f in result.failures)):
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

    def _integration_blocked(self, reason: str) -> PassResult:
        result = PassResult("integration", status="error")
        result.infrastructure_error = {"phase": "database", "message": reason}
        return result

    def _integration(self, project: Project, results: Path, log: bool) -> PassResult:
        if self.server is not None:
            waited = time.monotonic()
            self.server.wait()
            self.phases["database_wait"] = round(time.monotonic() - waited, 3)
            self.phases["database_start"] = round(self.server.seconds, 3)
            if self.server.error:
                return self._integration_blocked(f"PostgreSQL did not start: {self.server.error}")
            assert self.server.info is not None
            self.secrets.append(self.server.info.password)
        if self.interrupted:
            return PassResult("integration", status="interrupted")
        result = self._run_pass("integration", project, results, log)
        if self.server is not None and not self.interrupted and not self.server.alive():
            tail = self.server.log_tail()
            result.infrastructure_error = {
                "phase": "database",
                "message": "PostgreSQL stopped during the integration pass; tests that failed after that point "
                           "failed for that reason." + (f" Server log:\n{tail}" if tail else ""),
            }
            result.status = "error"
        return result

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
        try:
            project, settings, results = self._prepare()
        except UsageError as exc:
            self.console.line(f"async-test: {exc}", "red")
            return EXIT_USAGE
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._execute(project, settings, results)
        finally:
            if self.server is not None:
                self.server.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _execute(self, project: Project, settings: Settings, results: Path) -> int:
        opts = self.options
        selected = [k for k in PASSES if opts.only in (None, k)]
        self.thresholds = self._resolve_thresholds(project)
        if "integration" in selected and not settings.database_url:
            self.server = BackgroundServer(settings)
        self._header(project, settings, results, selected)
        # The probe starts an interpreter (~0.1 s); it runs beside the passes instead of before them.
        probed: Dict[str, Dict[str, Optional[str]]] = {}
        probe = threading.Thread(target=lambda: probed.setdefault("versions", self._versions()), daemon=True)
        probe.start()
        log = opts.parallel and len(selected) == 2  # one pass alone runs in the foreground, output shown
        if opts.parallel and len(selected) == 2:
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
                self.console.rule(f"{kind} pass (log)")
                self.console.stream.write((results / f"{kind}.log").read_text(errors="replace"))
        else:
            for kind in selected:
                if self.interrupted:
                    self.passes[kind] = PassResult(kind, status="interrupted")
                    continue
                self.console.rule(f"{kind} pass")
                self.passes[kind] = (self._run_pass(kind, project, results, log) if kind == "unit"
                                     else self._integration(project, results, log))
        for kind in PASSES:
            self.passes.setdefault(kind, PassResult(kind, selected=False, status="not-run"))
        if self.server is not None:
            self.server.stop()
        began = time.monotonic()
        coverage: Dict[str, Any] = {}
        if opts.coverage:
            try:
                coverage = build_reports(results, project)
            except Exception as exc:
                coverage = {"error": f"{type(exc).__name__}: {exc}"}
        self.phases["coverage"] = round(time.monotonic() - began, 3)
        code, below = self._exit_code(coverage)
        probe.join()
        versions = probed.get("versions", {"python": None})
        summary = self._summary(project, settings, results, versions, coverage, code, below)
        try:
            write_summary(results, summary)
        except OSError as exc:
            self.console.line(f"async-test: could not write {results}/summary.json: {exc}", "red")
            code = EXIT_INFRASTRUCTURE
        self._table(summary)
        return code

    def _exit_code(self, coverage: Dict[str, Any]) -> tuple[int, List[str]]:
        below = []
        for key, threshold in self.thresholds.items():
            measured = coverage.get(key)
            if threshold is not None and (measured is None or measured["percent"] < threshold.percent):
                got = f"{measured['percent']:.2f}%" if measured else "no data"
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
        if any(p.exit_code == 4 or p.usage_error for p in passes):
            return EXIT_USAGE, below
        if any(p.status in ("failed", "error") for p in passes):
            return EXIT_TESTS_FAILED, below
        if below:
            return EXIT_COVERAGE, below
        if all(p.status == "empty" for p in passes):
            return EXIT_NO_TESTS, below
        return EXIT_OK, below

    def _summary(self, project: Project, settings: Settings, results: Path, versions: Dict[str, Any],
                 coverage: Dict[str, Any], code: int, below: List[str]) -> Dict[str, Any]:
        name, reason = EXIT_REASONS[code]
        if code == EXIT_INFRASTRUCTURE and self.infrastructure_error:
            reason = f"infrastructure failure: {self.infrastructure_error['message'].splitlines()[0]}"
        elif code == EXIT_COVERAGE:
            reason = "; ".join(below)
        elif code in (EXIT_TESTS_FAILED, EXIT_USAGE):
            # Failed tests speak for themselves (they are listed); a pass that failed without one says why.
            failed = any(p.status == "failed" for p in self.passes.values())
            unexplained = [f"{p.kind} pass: {p.status_reason}" for p in self.passes.values()
                           if p.status_reason and (code == EXIT_USAGE or not failed)]
            if unexplained:
                reason = "; ".join(unexplained)
        info = self.server.info if self.server else None
        versions = dict(versions, postgresql=info.version if info else None,
                        postgresql_source=(info.source + ": " + info.bindir) if info else (
                            "database_url" if settings.database_url else None))
        self.phases["total"] = round(time.monotonic() - self.began, 3)
        summary = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "async-test", "version": __version__},
            "started_at": self.started_at.isoformat(),
            "duration_seconds": self.phases["total"],
            "project": {"root": str(project.root), "repo_root": str(project.repo_root),
                        "path_in_repo": project.path_in_repo, "results_dir": str(results)},
            "exit": {"code": code, "name": name, "reason": reason},
            "environment": versions,
            "phases": self.phases,
            "passes": {k: self.passes[k].as_dict() for k in PASSES},
            "coverage": {
                "unit": coverage.get("unit"), "integration": coverage.get("integration"),
                "combined": coverage.get("combined"), "files": coverage.get("files", []),
                "thresholds": {k: t.percent if t else None for k, t in self.thresholds.items()},
                "threshold_sources": {k: t.origin if t else None for k, t in self.thresholds.items()},
                "below_threshold": below,
                "error": coverage.get("error"),
            },
            "infrastructure_error": self.infrastructure_error,
            "files": {
                "junit_unit": "junit-unit.xml", "junit_integration": "junit-integration.xml",
                "coverage_unit": "coverage-unit.xml", "coverage_integration": "coverage-integration.xml",
                "coverage": "coverage.xml", "coverage_json": "coverage.json", "coverage_html": "html/index.html",
                "coverage_data": ".coverage", "summary_markdown": "summary.md",
            },
        }
        masked = mask_text(json.dumps(summary), self.secrets)
        return dict(json.loads(masked))

    # ------------------------------------------------------------------ console

    def _header(self, project: Project, settings: Settings, results: Path, selected: List[str]) -> None:
        c = self.console
        c.line(f"async-test run {__version__}: {project.root}", "bold")
        c.line(f"  config      {project.config_file or '(none: pytest defaults)'}")
        sources = ", ".join(project.coverage_sources) or f"from {project.coverage_config}"
        if project.coverage_sources_origin and project.coverage_sources_origin != "--cov-source":
            sources += f" ({project.coverage_sources_origin})"
        c.line(f"  coverage    {'off' if not self.options.coverage else sources}")
        limits = [f"{k} {t.percent:g}% ({t.origin})" for k, t in self.thresholds.items() if t is not None]
        if limits:
            c.line(f"  threshold   {', '.join(limits)}; checked after the run, never inside one pass")
        c.line(f"  results     {results}")
        if settings.database_url:
            c.line(f"  database    {mask_text(settings.database_url, self.secrets)} (database_url)")
        elif self.server is not None:
            c.line("  database    ephemeral PostgreSQL, starting in the background")
        c.line(f"  passes      {' then '.join(selected) if not self.options.parallel else ' and '.join(selected)}"
               f"{' (concurrently)' if self.options.parallel and len(selected) == 2 else ''}")
        c.line("  unit        tests classified unit (marker, */unit/* path, no database fixture); database blocked")
        c.line("  integration tests classified integration; real database, one isolated session per test")

    def _table(self, summary: Dict[str, Any]) -> None:
        c = self.console
        c.rule("async-test summary")
        cov = summary["coverage"]
        c.line(f"{'pass':<12} {'status':<12} {'tests':>5} {'passed':>6} {'failed':>6} {'errors':>6} "
               f"{'skipped':>7} {'time':>8} {'coverage':>9}")
        for kind, p in summary["passes"].items():
            n = p["counts"]
            pct = f"{cov[kind]['percent']:.1f}%" if cov.get(kind) else "-"
            style = {"passed": "green", "failed": "red", "error": "red"}.get(p["status"], "")
            c.line(f"{kind:<12} {p['status']:<12} {n['total']:>5} {n['passed']:>6} {n['failed']:>6} "
                   f"{n['errors']:>6} {n['skipped']:>7} {p['duration_seconds']:>7.1f}s {pct:>9}", style)
        if cov.get("combined"):
            c.line(f"{'combined':<12} {'':<12} {'':>5} {'':>6} {'':>6} {'':>6} {'':>7} {'':>8} "
                   f"{cov['combined']['percent']:>8.1f}%")
        for p in summary["passes"].values():
            if p.get("status_reason"):
                c.line(f"{p['kind']} pass {p['status']}: {p['status_reason']}", "red")
            for warning in p.get("warnings", []):
                c.line(f"warning ({p['kind']}): {warning}", "yellow")
        infra = summary.get("infrastructure_error")
        if infra:
            c.line(f"infrastructure ({infra['phase']}): {infra['message']}", "red")
        exit_info = summary["exit"]
        style = "green" if exit_info["code"] == 0 else "red"
        c.line(f"result: {exit_info['reason']} (exit {exit_info['code']}); details in "
               f"{summary['project']['results_dir']}/summary.md", style)
