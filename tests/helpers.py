"""Helpers shared by the test modules."""

import json
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "service" / "backend"


def postgres_processes(under: str = "") -> List[str]:
    """PIDs of running postgres servers started by the harness (data dir named async-test-pg-*).

    Read from /proc, not ``ps``: a minimal Debian has no procps, and ``ps`` without ``-ww`` cuts
    the arguments at 80 columns, which can drop the data directory and so miss a server.
    ``under``: only servers whose data directory is in that folder (a test's own ``pg_workdir``),
    so servers that other tests start meanwhile (under xdist) do not count.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        if "async-test-pg-" in args and "postgres" in args and under in args:
            pids.append(entry.name)
    return pids


def write_files(root: Path, files: Dict[str, str]) -> Path:
    """A small project: file name (may hold folders) -> text."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def assert_summary_round_trip(path: Path) -> None:
    """The runner's summary.json reads into the typed model and writes back byte for byte (issue 13 item 3)."""
    from async_test_harness.runner.results_folder import dumps
    from async_test_harness.summary.model import Summary

    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    summary = Summary.from_json(doc)
    assert summary.to_json() == doc
    assert dumps(summary.to_json()) == text, "to_json() writes the keys in another order, or other values"
    assert Summary.from_json(summary.to_json()) == summary


# ---------------------------------------------------------------------------- act (tests/e2e/test_act*.py)

def copy_action(dest: Path) -> Path:
    """The action's own files (what ``uses: ./`` or a ``--local-repository`` stand-in sees) into ``dest``."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in ("action.yml", "Dockerfile", "entrypoint.sh"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "harness", dest / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def git(repo: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                   check=True, capture_output=True)


def commit_all(repo: Path) -> None:
    """act reads the revision: the folder becomes a repository with everything in one commit."""
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        git(repo, *args)


def docker_shim(folder: Path, docker: str) -> Dict[str, str]:
    """The environment for act with the engine's own docker client first on PATH (this machine's first
    docker on PATH is a client without buildx)."""
    import os

    folder.mkdir(exist_ok=True)
    if not (folder / "docker").exists():
        (folder / "docker").symlink_to(docker)
    return dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}")


# ------------------------------------------------------------ small locked projects (image and act tests)

# A poetry project: six locked at 1.15.0 (the newest is later), iniconfig 1.1.1 in a `test` group.
POETRY_LOCKED = {
    "pyproject.toml": ('[tool.poetry]\nname = "tiny"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\n'
                       'python = "^3.9"\nsix = "^1.15"\n\n[tool.poetry.group.test.dependencies]\niniconfig = "*"\n'),
    "poetry.lock": ('[[package]]\nname = "six"\nversion = "1.15.0"\noptional = false\npython-versions = "*"\n'
                    'files = []\n\n[[package]]\nname = "iniconfig"\nversion = "1.1.1"\noptional = false\n'
                    'python-versions = "*"\nfiles = []\n\n[metadata]\nlock-version = "2.0"\n'
                    'python-versions = "^3.9"\ncontent-hash = "0"\n'),
}


def hashed_requirements(folder: Path, *pins: str) -> str:
    """A requirements file's text with ``--hash=`` for every pin, as ``uv pip compile`` writes it."""
    import subprocess

    wanted = folder / "hashed-in.txt"
    wanted.write_text("".join(f"{pin}\n" for pin in pins))
    return subprocess.run(["uv", "pip", "compile", "--quiet", "--generate-hashes", "--no-header", str(wanted)],
                          check=True, capture_output=True, text=True).stdout
