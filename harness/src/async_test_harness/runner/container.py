"""Inside the image: become the workspace's owner, install the project's dependencies, run.

``entrypoint.sh`` execs this module.  Three steps, each with its own clear
failure:

1. If started as root, switch to the uid/gid that owns ``/workspace`` so
   nothing written there is root-owned (a root-owned workspace keeps root).
2. Create a virtual environment outside the workspace and install the harness
   wheel and the project's dependencies from the best source it has: a lock file
   (uv.lock, poetry.lock, pdm.lock), hashed or plain requirements files, the
   ``[project]`` dependencies (``dependencies.py`` says how). Locked versions are
   never changed; one that conflicts with the harness's ranges is reported (exit 6).
   ``ASYNC_TEST_INSTALL`` replaces the automatic choice with a command. The
   environment is kept in the cache and reused while nothing it was installed from
   changes (``venv_cache.py``).
3. ``async-test run`` with the arguments given to ``docker run``, pytest
   running in that environment.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
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
from . import dependencies, python_choice, venv_cache
from .dependencies import EXIT_DEPENDENCIES, DependencyError, install_failure
from .project import ProjectError, find_project

HARNESS_HOME = Path(os.environ.get("HARNESS_HOME", "/opt/async-test"))  # set by the Dockerfile
PASSTHROUGH = {"settings", "postgres", "init-cluster", "--version", "-h", "--help"}
# Commands on finished results folders (the action's report job combines the shards' folders here, where
# coverage.py is): run as the workspace's owner like a run, so what they write is not root's.
RESULTS_COMMANDS = {"combine", "html"}


def say(message: str) -> None:
    print(f"async-test: {message}", flush=True)


def _account_tool(name: str, *args: str) -> None:
    """groupadd/useradd from /usr/sbin, whatever PATH the user passed with -e (a PATH without
    /usr/sbin made the entrypoint die with a traceback); a missing name only costs the passwd entry."""
    tool = f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else name
    try:
        subprocess.run([tool, *args], check=False, capture_output=True)
    except OSError:
        pass


def become_workspace_owner(workspace: Path) -> None:
    if os.geteuid() != 0 or not workspace.exists():
        return
    info = workspace.stat()
    uid, gid = info.st_uid, info.st_gid
    if uid == 0:
        return
    try:
        grp.getgrgid(gid)
    except KeyError:
        _account_tool("groupadd", "--gid", str(gid), "async-test")
    try:
        pwd.getpwuid(uid)
    except KeyError:
        _account_tool("useradd", "--uid", str(uid), "--gid", str(gid), "--no-create-home", "--home-dir",
                      "/tmp/async-test-home", "--shell", "/bin/sh", "async-test")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    home = Path("/tmp/async-test-home")
    home.mkdir(exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["USER"] = os.environ["LOGNAME"] = pwd.getpwuid(uid).pw_name


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
    if settings.venv_cache and not settings.install:
        kept = venv_cache.entry(cache, venv_cache.key(root, settings, wheels[-1], os.environ, python))
    if kept is None:
        source = install_into(Path(settings.venv), root, settings, wheels[-1], env, python)
    else:
        try:
            with venv_cache.locked(kept):
                ready = kept.ready()
                if ready:
                    kept.touch()
                    source = f"{ready.get('source', '?')}, kept environment reused"
                    say(f"reusing the test environment installed from {ready.get('source', '?')}: nothing it was "
                        f"installed from has changed ({kept.path}; ASYNC_TEST_VENV_CACHE=false installs afresh)")
                    return kept.python, time.monotonic() - began, source
                kept.clear()
                try:
                    source = install_into(kept.path, root, settings, wheels[-1], env, python)
                except BaseException:
                    kept.clear()  # never a half-installed environment for the next run
                    raise
                kept.mark_ready(source)
            removed = venv_cache.prune(cache, kept.path.name)
            if removed:
                say(f"removed {len(removed)} test environment(s) not used recently from the cache")
        except OSError as exc:
            say(f"the test environment cannot be kept in {cache} ({exc}); installing without keeping it")
            source = install_into(Path(settings.venv), root, settings, wheels[-1], env, python)
            kept = None
    seconds = time.monotonic() - began
    say(f"dependencies installed in {seconds:.1f}s")
    return (kept.python if kept else str(Path(settings.venv) / "bin" / "python")), seconds, source


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
    command = ["async-test", "run", "--python", python, "--record-phase", f"dependency_install={seconds:.3f}",
               "--install-source", source, *args]
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # The tests' bytecode goes to the cache (runner/bytecode.py): compiled once, kept with the cache mount.
    env.setdefault("ASYNC_TEST_BYTECODE_CACHE", str(Path(cache_dir()) / "pycache"))
    env["_ASYNC_TEST_IN_IMAGE"] = "1"  # paths in the runner's messages: from the mounted folder (passes.shown)
    os.execvpe("async-test", command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
