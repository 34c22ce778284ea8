"""Shared helpers: a pre-initialised cluster (fast server starts) and a pytester runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "service" / "backend"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """One initdb for the whole test session; each server copies it (what the image does).

    Made under /tmp, not pytest's private temp dir: as root the server runs as
    an unprivileged account that must be able to read it.
    """
    parent = Path(tempfile.mkdtemp(prefix="async-test-cluster-"))
    parent.chmod(0o755)
    path = parent / "data"
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "init-cluster", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    yield str(path)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def run_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, pg_cluster: str):
    """Run pytest in a subprocess on the pytester project, with the plugin loaded by its entry point."""
    for key in list(os.environ):
        if key.startswith("ASYNC_TEST_") or key.startswith("PG") or key.startswith("POSTGRES_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ASYNC_TEST_PG_CLUSTER", pg_cluster)
    # pg_cluster describes the machine and does not configure the harness; an explicit block_db
    # does, as a project's own setting would (an unconfigured harness is inert). Tests of the
    # inert harness delete it.
    monkeypatch.setenv("ASYNC_TEST_BLOCK_DB", "true")

    def run(*args: str) -> pytest.RunResult:
        # no:randomly: the miniature suites of this repo's tests rely on their order (a test named
        # test_zz_* checks what the earlier ones left); pytest-randomly is installed for tests/projects.
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args, timeout=300)

    return run


@pytest.fixture
def private_pg_workdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A pg_workdir of this test's own, so its checks for leftover servers and data directories
    see only what this test started (other tests start servers meanwhile under xdist). Under /tmp
    and searchable: as root the server runs as an unprivileged account."""
    parent = Path(tempfile.mkdtemp(prefix="async-test-workdir-"))
    parent.chmod(0o755)
    monkeypatch.setenv("ASYNC_TEST_PG_WORKDIR", str(parent))
    yield str(parent)
    shutil.rmtree(parent, ignore_errors=True)
