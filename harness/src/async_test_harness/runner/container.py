"""Inside the image: become the workspace's owner, install the project's dependencies, run.

``entrypoint.sh`` execs this module.  Three steps, each with its own clear
failure:

1. If started as root, switch to the uid/gid that owns ``/workspace`` so
   nothing written there is root-owned (a root-owned workspace keeps root).
2. Create a virtual environment outside the workspace and install, in one uv
   resolution, the harness wheel and the project's dependencies: the user's
   pins are constraints of that resolution, so they win over the harness's
   own ranges (an impossible combination is reported, not silently changed).
   ``ASYNC_TEST_INSTALL`` replaces the automatic choice with a command.
3. ``async-test run`` with the arguments given to ``docker run``, pytest
   running in that environment.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..settings import ContainerSettings, SettingsError, container_settings
from .project import ProjectError, find_project

EXIT_DEPENDENCIES = 6
HARNESS_HOME = Path(os.environ.get("HARNESS_HOME", "/opt/async-test"))  # set by the Dockerfile
REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt", "requirements-test.txt", "test-requirements.txt",
                     "dev-requirements.txt")
PASSTHROUGH = {"settings", "postgres", "init-cluster", "--version", "-h", "--help"}


def say(message: str) -> None:
    print(f"async-test: {message}", flush=True)


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
        subprocess.run(["groupadd", "--gid", str(gid), "async-test"], check=False, capture_output=True)
    try:
        pwd.getpwuid(uid)
    except KeyError:
        subprocess.run(["useradd", "--uid", str(uid), "--gid", str(gid), "--no-create-home", "--home-dir",
                        "/tmp/async-test-home", "--shell", "/bin/sh", "async-test"], check=False,
                       capture_output=True)
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


def install_command(root: Path, venv_python: str, wheel: str, settings: ContainerSettings) -> List[str]:
    cmd = ["uv", "pip", "install", "--python", venv_python, wheel]
    names = settings.requirements or [n for n in REQUIREMENT_FILES if (root / n).is_file()]
    for name in names:
        cmd += ["-r", str(root / name)]
    pyproject = root / "pyproject.toml"
    extras, groups = settings.extras, settings.groups
    if pyproject.is_file() and "[project]" in pyproject.read_text(encoding="utf-8", errors="replace"):
        cmd += ["-r", str(pyproject)]  # its dependencies only: nothing is built in the user's tree
        for extra in extras:
            cmd += ["--extra", extra]
        for group in groups:
            cmd += ["--group", f"{pyproject}:{group}"]
    return cmd


# What uv and pip print when the package index cannot be reached or its certificate not verified:
# the requirements are fine, the network (or its TLS-inspecting proxy) is not.
TLS_ERRORS = ("invalid peer certificate", "unknownissuer", "certificate verify failed", "self-signed certificate",
              "self signed certificate", "unable to get local issuer certificate", "sslerror", "ssl:")
NETWORK_ERRORS = ("failed to fetch", "connection refused", "dns error", "failed to lookup address",
                  "name or service not known", "temporary failure in name resolution", "network is unreachable",
                  "connection reset", "timed out", "could not connect")


def install_failure(code: int, output: str) -> str:
    """One paragraph on why the install failed and what to do: the fix for a certificate or a network
    differs from the fix for requirements, and telling the user to fix their requirements sent them
    the wrong way."""
    text = output.lower()
    if any(marker in text for marker in TLS_ERRORS):
        return (f"installing the project's dependencies failed (exit {code}, see above): the package index's TLS "
                "certificate could not be verified. Behind a TLS-inspecting proxy, give the container your CA "
                "bundle: docker run -v /path/ca.crt:/etc/ssl/certs/proxy-ca.crt:ro -e "
                "SSL_CERT_FILE=/etc/ssl/certs/proxy-ca.crt ..., or the action's ca-bundle input. Your requirements "
                f"are not the problem. Exit code {EXIT_DEPENDENCIES}.")
    if any(marker in text for marker in NETWORK_ERRORS):
        return (f"installing the project's dependencies failed (exit {code}, see above): the package index could "
                "not be reached from the container. Check its network (docker run --network, a proxy through "
                "HTTPS_PROXY, or UV_INDEX_URL for a mirror); your requirements are not the problem. "
                f"Exit code {EXIT_DEPENDENCIES}.")
    return (f"installing the project's dependencies failed (exit {code}, see above). Fix the requirements "
            "(versions that cannot be installed together with the harness's pytest >= 7.4, pytest-asyncio >= 0.23, "
            "SQLAlchemy >= 2.0 are reported here), or set ASYNC_TEST_INSTALL to your own install command. "
            f"Exit code {EXIT_DEPENDENCIES}.")


def install(root: Path, settings: ContainerSettings) -> tuple[str, float]:
    """Create the test environment; returns its python and the seconds it took."""
    began = time.monotonic()
    venv = Path(settings.venv)
    env = dict(os.environ, UV_CACHE_DIR=cache_dir(), VIRTUAL_ENV=str(venv))
    env["PATH"] = f"{venv}/bin:{env.get('PATH', '')}"
    wheels = sorted((HARNESS_HOME / "wheels").glob("async_test_harness-*.whl"))
    if not wheels:
        raise SystemExit("async-test: the image has no harness wheel in /opt/async-test/wheels (a broken build?)")
    steps: List[List[str]] = [["uv", "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)]]
    custom = settings.install
    python = str(venv / "bin" / "python")
    if custom:
        steps.append(["uv", "pip", "install", "--python", python, str(wheels[-1])])
        steps.append(["sh", "-c", custom])
    else:
        steps.append(install_command(root, python, str(wheels[-1]), settings))
    for step in steps:
        say("$ " + " ".join(shlex.quote(part) for part in step))
        done = subprocess.run(step, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stdout.strip().splitlines()[-25:])
            print(tail, flush=True)
            say(install_failure(done.returncode, done.stdout))
            raise SystemExit(EXIT_DEPENDENCIES)
    seconds = time.monotonic() - began
    say(f"dependencies installed in {seconds:.1f}s")
    return python, seconds


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in PASSTHROUGH:
        os.execvp("async-test", ["async-test", *args])
    if args and args[0] == "run":
        args = args[1:]
    try:
        settings = container_settings(os.environ)
    except SettingsError as exc:
        say(str(exc))
        return 2
    workspace = Path(settings.workspace)
    become_workspace_owner(workspace)
    os.chdir(workspace if workspace.is_dir() else Path.cwd())
    try:
        root = find_project(project_argument(args)).root
    except ProjectError as exc:
        say(str(exc))
        return 2
    python, seconds = install(root, settings)
    command = ["async-test", "run", "--python", python, "--record-phase", f"dependency_install={seconds:.3f}", *args]
    env: Dict[str, str] = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    os.execvpe("async-test", command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
