"""The passes: each a pytest process (or one session for both), its command, environment and status.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import phases
from ..masking import mask_stream
from . import affected_run, coverage_reports, session
from . import rerun as rerun_pass
from .background_server import ServerHandOver
from .console import colour_asked
from .project import Project, option_values
from .results import (
    SELECTED_FILE,
    PassResult,
    SelectedTest,
    mark_unreported,
    read_events,
    read_selection,
)
from .results_folder import write_atomically
from .run_state import ONLY_ENV, ONLY_FILE, PASSES, SELECTED_ENV, SERVER_FILE
from .stopping import Stopping

# What each pass runs: ``python -m pytest``, except that a Ctrl-C landing while pytest still imports
# and configures itself (before it handles KeyboardInterrupt) ends it with one line, not a traceback
# of pytest's imports. The runner starts it with SIGINT blocked (_start_pytest), so a signal that
# arrives before this code runs waits, pending, until the try block is in place.
# SIGINT's handler never raises where Python would swallow and print it (plugin/interrupts.py, run
# as text: imported before pytest, the plugin's modules could not have their asserts rewritten).
INTERRUPTS = (Path(__file__).resolve().parent.parent / "plugin" / "interrupts.py").read_text(encoding="utf-8")
PYTEST_MAIN = (
    "import runpy, signal, sys\n"
    "try:\n"
    "    try:\n"  # installed while SIGINT is still blocked
    f"        _interrupts = {{'__name__': '_async_test_interrupts'}}\n"
    f"        exec({INTERRUPTS!r}, _interrupts)\n"
    "        _interrupts['install_for_startup']()\n"
    "    except Exception:\n"
    "        pass\n"
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

UNREPORTED_WHY = "the pytest process ended (pytest.exit(), os._exit() or a crash) before this test ran or finished"


class PassProcesses(ServerHandOver, Stopping):
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
            cmd += [f"--async-test-select={self.affected.path}"]  # --affected: the tests the change reaches
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

    def _uses_pytest_cov(self, project: Project, user: List[str]) -> bool:
        """Whether pytest-cov will measure in a pass although the runner did not ask it to."""
        return bool(option_values(project.addopts + self._env_addopts() + user, "--cov"))

    def _env(self, kind: str, results: Path) -> Dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ASYNC_TEST_KIND": kind,
            "ASYNC_TEST_EVENTS": str(results / f"events-{kind}.jsonl"),
            "COVERAGE_FILE": str(results / f".coverage.{kind}"),
            SELECTED_ENV: str(results / SELECTED_FILE.format(kind=kind)),
        })
        env.pop(ONLY_ENV, None)
        env.update(self.bytecode)  # never a __pycache__ in the user's tree; compiled once (bytecode.py)
        if self.options.coverage:
            env.update(coverage_reports.measurement_environment())
        if kind in ("integration", session.KIND) and self.server is not None:
            from ..server import provision

            if self.server.info is not None:
                env.update(provision.describe_owned_server(self.server.info))
            elif kind == session.KIND:  # still starting: the session waits for it, after its own start-up
                env.update(provision.describe_owned_server_later(self._hand_over(results)))
        if kind == session.KIND:
            env.update(session.environment(results))
            if self.options.record_map and self.options.coverage:
                env[session.PER_TEST_ENV] = "1"  # a coverage context per test: the map (testmap.py)
        return env

    def _run_pass(self, kind: str, project: Project, results: Path, log: bool,
                  only: Optional[List[str]] = None) -> PassResult:
        """One pytest process; ``only``: the node ids it may run (the rest deselected; plugin/selection.py)."""
        began = time.monotonic()
        cmd = self._command(kind, project, results)
        env = self._env(kind, results)
        selected_file = results / SELECTED_FILE.format(kind=kind)
        selected_file.unlink(missing_ok=True)
        if only is not None:
            env[ONLY_ENV] = str(results / ONLY_FILE)
            write_atomically({results / ONLY_FILE: json.dumps(only)})
        out: Any = None
        if log:
            out = open(results / f"{kind}.log", "wb")
        try:
            proc = self._start_pytest(cmd, project, env, out, pipe=bool(self.console_secrets))
            self.children.append(proc)
            if self.interrupted:  # the signal came after this pass was decided on, before it started
                threading.Thread(target=self._stop_children, name="async-test-stop", daemon=True).start()
            pump = self._mask_output(proc, out)
            if self.options.coverage:
                coverage_reports.prepare_in_background()
            rc = proc.wait()
            if pump is not None:
                pump.join(timeout=5)  # a process the tests left behind may hold the pipe: do not wait for it
            coverage_reports.prepared()  # before this thread reads any coverage data (imports coverage.py)
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
        selection = read_selection(selected_file)
        result.selected_tests = selection.tests
        result.selected_in_order = selection.in_order
        result.unit_deferred = selection.unit_deferred if kind == session.KIND else None
        selected_file.unlink(missing_ok=True)
        (results / ONLY_FILE).unlink(missing_ok=True)
        result.exit_code = rc
        result.duration_seconds = time.monotonic() - began
        self.phases[f"{kind}_pass"] = round(result.duration_seconds, 3)
        if kind != session.KIND:  # the session's are told apart by kind (_one_session)
            asked = [SelectedTest(n, kind, n.split("::")[0], 1) for n in only or ()]
            self._mark_unreported(result, rc, list(result.selected_tests or ()) + asked, project)
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
        if result.unreported and rc in (0, 1, 5):  # pytest.exit(returncode=0) or os._exit(0) lost them
            return "failed"
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

    def _mark_unreported(self, result: PassResult, rc: Optional[int], tests: List[SelectedTest],
                         project: Project) -> None:
        """A selected test that did not report is a failure of its pass, unless the run was interrupted,
        the user asked pytest to stop early (-x, --maxfail, --stepwise), or pytest refused to run any
        test (a usage error, or collection errors: those are listed)."""
        if (self.interrupted or result.stopped or rc == 4
                or (rc == 2 and any(f.when == "collect" for f in result.failures))):
            return
        mark_unreported(result, tests, project, UNREPORTED_WHY)

    def _one_session(self, project: Project, results: Path) -> bool:
        """Both passes in one pytest process (session.py); False when the server did not start
        (the unit pass then runs on its own, as it would without a database)."""
        if self.interrupted:
            self.passes = {k: PassResult(k, status="interrupted") for k in PASSES}
            return True
        self.console.rule(phases.SESSION)
        whole = self._run_pass(session.KIND, project, results, False)
        (results / SERVER_FILE).unlink(missing_ok=True)
        self.console.elapsed("unit and integration tests ended", whole.duration_seconds)
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
        for kind, result in split.items():
            result.selected_tests = (None if whole.selected_tests is None else
                                     [t for t in whole.selected_tests if t.kind == kind])
        shares = session.share_time(whole.duration_seconds, {k: r.test_seconds for k, r in split.items()})
        self.phases["session"] = self.phases.pop(f"{session.KIND}_pass", round(whole.duration_seconds, 3))
        for kind, result in split.items():
            other = split["integration" if kind == "unit" else "unit"]
            # The other kind's selected tests, as its own process would have deselected them; counted from
            # the selection when known (a collection error stops the session before any test reports).
            theirs = len(other.selected_tests) if other.selected_tests is not None else other.counts["total"]
            result.deselected = whole.deselected + theirs
            result.duration_seconds = shares[kind]
            self.phases[f"{kind}_pass"] = round(shares[kind], 3)
        failed_any = any(result.failures for result in split.values())
        beyond_tests = rc is None or rc not in (0, 1, 5) or (rc == 1 and not failed_any)
        # By node id, whatever the order the tests ran in: a kind whose selected tests all reported was
        # done when the session ended, and a crash, pytest.exit() or a lost server is not its own. When
        # both were done (or neither is known) the integration pass shows it, as two processes did.
        done = {kind: result.all_reported and not (rc == 1 and not failed_any) for kind, result in split.items()}
        # The kind of the test that was running when the session ended ("ended"): its pass is the one two
        # processes would have seen end, so its unreported tests are lost (failures, the first with the
        # session's exit). The other kind's unreported tests get a process of their own, as a crash in one
        # pass never cost two processes the other pass's results. Known from the session's order (the
        # selection file, in run order without xdist); unknown, it is taken to be a unit test.
        ended = _ended_kind(whole)
        spared = "integration" if ended == "unit" else "unit"
        lost = split[spared].missing()
        # A session that died (os._exit, a signal) wrote no JUnit file and saved no coverage: the other
        # kind's tests, reported or not, all run again in a process of their own, which writes both.
        died = not whole.finished and whole.selected_in_order and bool(split[spared].selected_tests)
        if died:
            lost = list(split[spared].selected_tests or ())
        if not whole.finished and not done[ended]:
            split[ended].deselected = 0  # its own process would have died before it said what it deselected
        rerun = (bool(lost) and not self.interrupted and not whole.stopped and rc != 4
                 and not any(f.when == "collect" for r in split.values() for f in r.failures))
        self._mark_unreported(split[ended], rc, split[ended].missing(), project)
        if not rerun:
            self._mark_unreported(split[spared], rc, split[spared].missing(), project)
        collect_stop = rc == 2 and any(f.when == "collect" for r in split.values() for f in r.failures)
        for kind, result in split.items():
            shows_exit = (not done[kind] and (kind == ended or not rerun)) or (
                kind == "integration" and all(done.values())) or collect_stop  # each process stops at collection
            # The pass the session ended in shows how it ended, as its own process would (os._exit(0): 0).
            ended_here = kind == ended and not done[kind] and not whole.stopped
            if (beyond_tests or ended_here) and shows_exit and not (kind == spared and rerun):
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
        # Unknown selection (the session ended before its collection did): as before, a session that died
        # with no integration test reported gives the whole integration pass a process of its own.
        crashed_early = (whole.selected_tests is None and beyond_tests and not self.interrupted and rc not in (2, 4)
                         and not split["integration"].counts["total"]
                         and not any(f.when == "collect" for f in split["unit"].failures))
        # A session that died saved no coverage: what it flushed at each switch of kind is recovered, and
        # the pass it died in loses its lines, as its own process would have lost them.
        recovered = self.options.coverage and session.recover_flushed(results / f".coverage.{session.KIND}")
        session.split_junit(results / f"junit-{session.KIND}.xml", results)
        if self.options.coverage and self.options.record_map and whole.unit_deferred:
            self.console.line("async-test: test map not recorded: the unit tests ran in a process of their own, "
                              "without a coverage context per test", "yellow")
        elif self.options.coverage and self.options.record_map:
            ran = [n for r in split.values() for n in r.durations]
            failed = [f.nodeid for r in split.values() for f in r.failures]
            self.console.line(affected_run.record(results / f".coverage.{session.KIND}", results, project, ran, failed))
        if self.options.coverage:
            session.split_coverage(results / f".coverage.{session.KIND}", results, project)
            if recovered and not done[ended]:
                (results / f".coverage.{ended}").unlink(missing_ok=True)
        if rerun or crashed_early:
            again_kind = spared if rerun else "integration"
            self.console.rule(phases.INTEGRATION_AGAIN if again_kind == "integration" else phases.UNIT_AGAIN)
            if rerun and died:
                self.console.line(f"async-test: the session died before it saved its results: the {len(lost)} "
                                  f"{again_kind} test(s) run again in a process of their own", "yellow")
            elif rerun:
                where = f" in {'an' if ended == 'integration' else 'a'} {ended} test" if whole.selected_in_order else ""
                self.console.line(f"async-test: {len(lost)} {again_kind} test(s) did not report before the session "
                                  f"ended{where}: they run in a process of their own", "yellow")
            if rerun and died:
                rerun_pass.discard(results, again_kind)
                reported = PassResult(again_kind, deselected=split[again_kind].deselected)
            else:
                reported = rerun_pass.set_aside(results, split[again_kind])
            only = [t.nodeid for t in lost] if rerun else None
            again = (self._integration(project, results, False, only) if again_kind == "integration"
                     else self._run_pass("unit", project, results, False, only))
            split[again_kind] = rerun_pass.merge(results, reported, again)
            if again_kind == "unit":
                self._note_lost_server(split["integration"])
        else:
            self._note_lost_server(split["integration"])
        if whole.unit_deferred and not self.interrupted:
            # The session ran the integration tests only (plugin/early_connections.py): the unit tests
            # run as --separate-passes runs them, in a process with the database blocked from the start.
            self.console.rule(phases.UNIT_OWN)
            self.console.line(f"async-test: {whole.unit_deferred}", "yellow")
            rerun_pass.discard(results, "unit")
            split["unit"] = self._run_pass("unit", project, results, False)
            # in summary.md, the job summary and the comment too: a unit module's collection error
            # ("connection refused") is explained only by it
            split["unit"].warnings.append(whole.unit_deferred)
        self.passes = split
        return True

    def _integration(self, project: Project, results: Path, log: bool,
                     only: Optional[List[str]] = None) -> PassResult:
        error = self._wait_for_server()
        if error is not None:
            return self._integration_blocked(f"PostgreSQL did not start: {error}")
        if self.interrupted:
            return PassResult("integration", status="interrupted")
        result = self._run_pass("integration", project, results, log, only)
        self._note_lost_server(result)
        return result


def _ended_kind(whole: PassResult) -> str:
    """The kind of the first selected test, in the session's order, that did not report: the test
    that was running when the session ended. "unit" when the order is unknown (xdist, no selection)
    or every test reported."""
    if whole.selected_tests is None or not whole.selected_in_order:
        return "unit"
    first = next((t for t in whole.selected_tests if t.nodeid not in whole.reported), None)
    return "integration" if first is not None and first.kind == "integration" else "unit"
