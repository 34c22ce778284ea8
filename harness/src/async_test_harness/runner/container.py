"""Inside the image: become the workspace's owner, install the project's dependencies, run.

``entrypoint.sh`` execs this module.  Three steps, each with its own clear
failure:

1. If started as root, switch to the uid/gid that owns ``/workspace`` so
   nothing written there is root-owned; a root-owned workspace gets the
   unprivileged account ``async-test-run`` instead, and its results folder is
   handed over to it: the tests never run as root (``privileges.py``).
2. Create a virtual environment outside the workspace and install the harness
   wheel and the project's dependencies from the best source it has: a lock file
   (uv.lock, poetry.lock, pdm.lock), hashed or plain requirements files, the
   ``[project]`` dependencies (``dependencies.py`` says how). Locked versions are
   never changed; one that conflicts with the harness's ranges is reported (exit 6).
   ``ASYNC_TEST_INSTALL`` replaces the automatic choice with a command. The
   environment is kept in the cache, sealed (root's, read-only to the tests), and
   reused while nothing it was installed from changes and it is still sealed
   (``venv_cache.py``).
3. ``async-test run`` with the arguments given to ``docker run``, pytest
   running in that environment.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .. import phases
from ..server.postgres import PostgresError, find_binaries
from ..settings import ContainerSettings, SettingsError, container_settings, from_environment
from . import dependencies, privileges, python_choice, venv_cache
from .dependencies import EXIT_DEPENDENCIES, DependencyError, install_failure
from .project import ProjectError, find_project

HARNESS_HOME = Path(os.environ.get("HARNESS_HOME", "/opt/async-test"))  # set by the Dockerfile
PASSTHROUGH = {"settings", "postgres", "init-cluster", "--version", "-h", "--help"}
# Commands on finished results folders (the action's report job combines the shards' folders here, where
# coverage.py is): run as the workspace's owner like a run, so what they write is not root's.
RESULTS_COMMANDS = {"combine", "html"}


def say(message: str) -> None:
    print(f"async-test: {message}", flush=True)


_privileges: Optional[privileges.Privileges] = None  # set by become_workspace_owner when started as root


def become_workspace_owner(workspace: Path) -> None:
    """Run as the workspace's owner, or as the unprivileged account when root owns it: never root.

    Root stays in the saved set-user-ID only, to seal the kept test environment (``privileges.py``);
    ``main`` drops it for good before the run.
    """
    global _privileges
    if os.geteuid() != 0 or not workspace.exists():
        return
    info = workspace.stat()
    uid, gid = info.st_uid, info.st_gid
    if uid == 0:
        uid = gid = privileges.ACCOUNT_UID
        privileges.ensure_account(uid, gid, privileges.ACCOUNT)
        say(f"{workspace} is owned by root: the tests run as the unprivileged account '{privileges.ACCOUNT}' "
            f"(uid {uid}), never as root; in the workspace it may write only the results folder, which is "
            "handed over to it (mount a folder you own, the usual case, for tests that write elsewhere in it)")
    else:
        privileges.ensure_account(uid, gid, "async-test")
    _privileges = privileges.switch(uid, gid)


def _hand_over(folder: Path) -> None:
    """In a root-owned workspace, the unprivileged account gets the one folder the command writes."""
    if _privileges is not None and _privileges.uid == privileges.ACCOUNT_UID:
        if not _privileges.hand_over(folder):
            say(f"{folder} could not be handed over to '{privileges.ACCOUNT}' (not an empty folder or async-test's "
                "results folder); give --results-dir a new folder")


def _drop_root() -> None:
    if _privileges is not None and not _privileges.dropped:
        _privileges.drop()


def results_argument(args: Sequence[str], root: Path) -> Path:
    """The results folder ``async-test run`` will write: ``--results-dir`` (from the working directory)
    or PROJECT/.async-test."""
    for flag, value in zip(args, args[1:]):
        if flag == "--":
            break
        if flag == "--results-dir":
            return Path(value).resolve()
    for arg in args:
        if arg.startswith("--results-dir="):
            return Path(arg.split("=", 1)[1]).resolve()
    return root / ".async-test"


def project_argument(args: Sequence[str]) -> str:
    """The PROJECT_DIR among ``async-test run`` arguments (first positional before ``--``)."""
    takes_value = {"--results-dir", "--only", "--cov-source", "--fail-under", "--fail-under-unit",
                   "--fail-under-integration", "--unit-args", "--integration-args", "--python"}
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg in takes_value:
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return "."


@functools.cache
def cache_dir() -> str:
    wanted = Path(os.environ.get("UV_CACHE_DIR", "/cache"))
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return str(wanted)
    except OSError:
        fallback = "/tmp/uv-cache"
        say(f"the dependency cache {wanted} is not writable by uid {os.getuid()}; using {fallback} "
            "(mount a writable directory at /cache to keep the cache between runs)")
        return fallback


def install(root: Path, settings: ContainerSettings,
            interpreter: Optional[python_choice.Interpreter] = None) -> tuple[str, float, str]:
    """Create or reuse the test environment; returns its python, the seconds it took and its source."""
    python = interpreter.path if interpreter is not None else sys.executable
    began = time.monotonic()
    wheels = sorted((HARNESS_HOME / "wheels").glob("async_test_harness-*.whl"))
    if not wheels:
        raise SystemExit("async-test: the image has no harness wheel in /opt/async-test/wheels (a broken build?)")
    cache = Path(cache_dir())
    env = dict(os.environ, UV_CACHE_DIR=str(cache))
    kept: Optional[venv_cache.Entry] = None
    sealer = _privileges
    if settings.venv_cache and not settings.install:
        if sealer is None:
            say(f"the test environment is not kept: the container was started as uid {os.getuid()}, not root, so it "
                "could not be made read-only to the tests (start it as root, the image's default, to keep it)")
        else:
            kept = venv_cache.entry(cache, venv_cache.key(root, settings, wheels[-1], os.environ, python))
    if kept is None or sealer is None:
        source = install_into(Path(settings.venv), root, settings, wheels[-1], env, python)
    else:
        try:
            with venv_cache.locked(kept):
                ready = kept.ready()
                problem = kept.unsealed() if ready else None
                if ready and problem is None:
                    sealer.touch(kept.path / venv_cache.MARKER)
                    source = f"{ready.get('source', '?')}, kept environment reused"
                    say(f"reusing the test environment installed from {ready.get('source', '?')}: nothing it was "
                        f"installed from has changed, and it is as it was sealed ({kept.path}; "
                        "ASYNC_TEST_VENV_CACHE=false installs afresh)")
                    return kept.python, time.monotonic() - began, source
                if problem:
                    say(f"the kept test environment {kept.path} is not as it was sealed after its install ({problem}); "
                        "installing it afresh")
                sealer.remove(kept.path)
                try:
                    source = install_into(kept.path, root, settings, wheels[-1], env, python)
                    kept.mark_ready(source)
                    seal(kept, sealer)
                except BaseException:
                    sealer.remove(kept.path)  # never a half-installed environment for the next run
                    raise
            removed = venv_cache.prune(cache, kept.path.name, remove=sealer.remove)
            if removed:
                say(f"removed {len(removed)} test environment(s) not used recently from the cache")
        except OSError as exc:
            say(f"the test environment cannot be kept in {cache} ({exc}); installing without keeping it")
            source = install_into(Path(settings.venv), root, settings, wheels[-1], env, python)
            kept = None
    seconds = time.monotonic() - began
    say(f"dependencies installed in {seconds:.1f}s")
    return (kept.python if kept else str(Path(settings.venv) / "bin" / "python")), seconds, source


def seal(kept: venv_cache.Entry, sealer: privileges.Privileges) -> None:
    """Compile the environment's bytecode (the tests then write none for it) and make it root's and
    read-only, with the Python uv installed into the cache for it, if any."""
    subprocess.run([kept.python, "-I", "-S", "-m", "compileall", "-q", "-j", "0", str(kept.path)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    sealer.seal(kept.path)
    home = venv_cache.interpreter_home(kept.path)
    cache = kept.path.parent.parent
    if home is not None and home.parts[:len(cache.parts)] == cache.parts:
        sealer.seal(home.parent)


def install_into(venv: Path, root: Path, settings: ContainerSettings, wheel: Path, env: Dict[str, str],
                 interpreter: str = sys.executable) -> str:
    """Create ``venv`` and install the harness and the project's dependencies; returns the source used."""
    env = dict(env, VIRTUAL_ENV=str(venv))
    env["PATH"] = f"{venv}/bin:{env.get('PATH', '')}"
    python = str(venv / "bin" / "python")
    # pip in the environment for the user's own commands (they run `pip install ...` as in their CI)
    seed = ["--seed"] if settings.install or settings.install_after else []
    steps: List[List[str]] = [["uv", "venv", "--quiet", "--allow-existing", *seed, "--python", interpreter,
                               str(venv)]]
    custom = settings.install
    source = ""
    if custom:
        steps.append(["uv", "pip", "install", "--python", python, str(wheel)])
        steps.append(["sh", "-c", custom])
        source = "ASYNC_TEST_INSTALL (your command)"
        say(f"installing with {source}")
    run_steps(steps, root, env)
    if not custom:
        workdir = Path(tempfile.mkdtemp(prefix="async-test-deps-"))  # generated files: never in the user's tree
        try:
            source = dependencies.install(root, python, str(wheel), settings, workdir, env=env, say=say).source
        except DependencyError as exc:
            say(str(exc))
            raise SystemExit(EXIT_DEPENDENCIES) from None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if settings.install_after:
            say("then ASYNC_TEST_INSTALL_AFTER (your command)")
            run_steps([["sh", "-c", settings.install_after]], root, env)
            source += "; then ASYNC_TEST_INSTALL_AFTER"
    return source


def run_steps(steps: Sequence[Sequence[str]], root: Path, env: Dict[str, str]) -> None:
    """Run install commands in the workspace; the first that fails ends the container with exit 6."""
    for step in steps:
        say("$ " + " ".join(shlex.quote(part) for part in step))
        done = subprocess.run(list(step), cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stdout.strip().splitlines()[-25:])
            print(tail, flush=True)
            say(install_failure(done.returncode, done.stdout))
            raise SystemExit(EXIT_DEPENDENCIES)


def server_mismatch(root: Path) -> Optional[str]:
    """Why the image cannot give the project the PostgreSQL major it asks for; None if it can.

    Checked before the install, so a project that wants 17 from an image with 15 hears it in a
    second, not after minutes of installing and a failed integration pass.
    """
    try:
        settings = from_environment(os.environ, root)
    except SettingsError:
        return None  # the run reports bad settings itself, with the same words
    if settings.pg_version is None or settings.database_url:
        return None
    try:
        find_binaries(settings.pg_source, settings.pg_bin_dir, settings.pg_version)
    except PostgresError as exc:
        return f"{exc} Exit code 2."
    return None


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in PASSTHROUGH:
        os.execvp("async-test", ["async-test", *args])
    if args and args[0] == "run":
        args = args[1:]
    own = args[:args.index("--")] if "--" in args else args
    if "-h" in own or "--help" in own:  # help needs no install (behind a proxy the install could not even run)
        os.execvp("async-test", ["async-test", "run", *args])
    try:
        settings = container_settings(os.environ)
    except SettingsError as exc:
        say(str(exc))
        return 2
    if args and args[0] in RESULTS_COMMANDS:
        become_workspace_owner(Path(settings.workspace))
        if len(args) > 1 and not args[1].startswith("-"):
            _hand_over(Path(args[1]).resolve())  # combine's output, html's results folder
        _drop_root()
        os.execvp("async-test", ["async-test", *args])
    workspace = Path(settings.workspace)
    become_workspace_owner(workspace)
    os.chdir(workspace if workspace.is_dir() else Path.cwd())
    try:
        root = find_project(project_argument(args)).root
    except ProjectError as exc:
        say(str(exc))
        return 2
    mismatch = server_mismatch(root)
    if mismatch:
        say(mismatch)
        return 2
    try:
        interpreter = python_choice.choose(root, Path(cache_dir()), settings.python_downloads, os.environ, say)
    except python_choice.PythonRefused as exc:
        say(str(exc))
        return 2
    if interpreter.why:
        say(interpreter.why)
    note = dependencies.python_version_note(root, interpreter.version)
    if note:
        say(note)
    print(phases.line(phases.INSTALL), flush=True)  # the action's first group (phases.py)
    python, seconds, source = install(root, settings, interpreter)
    _hand_over(results_argument(args, root))
    _drop_root()  # for good: nothing the tests start can become root again
    command = ["async-test", "run", "--python", python, "--record-phase", f"dependency_install={seconds:.3f}",
               "--install-source", source, *args]
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # No bytecode folder shared through the cache: a .pyc the tests wrote there would be read by a later
    # run (another project's too) in place of the source it names. A kept environment has its bytecode
    # compiled in, read-only; the project's own modules are compiled in memory (runner/bytecode.py).
    env["_ASYNC_TEST_IN_IMAGE"] = "1"  # paths in the runner's messages: from the mounted folder (console.shown)
    os.execvpe("async-test", command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
