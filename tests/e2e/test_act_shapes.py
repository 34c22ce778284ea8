"""A real project's shape through the composite action under act (issue 11): unchanged, configured
only by inputs. Needs the image (ASYNC_TEST_IMAGE) and act, as tests/e2e/test_act.py does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from shapes import BY_NAME

from helpers import REPO

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or "/usr/bin/docker"
ACT = shutil.which("act") or str(Path(sys.executable).parent / "act")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IMAGE or not Path(ACT).exists(), reason="needs ASYNC_TEST_IMAGE and act")]


def offline_actions(tmp_path: Path) -> List[str]:
    """act clones every remote action of the composite before it evaluates the step's ``if``, and
    GitHub is out of reach here: each (the cache step, skipped under act and with an ``image``
    input; the results upload, which runs) gets a stand-in that does nothing, so the job can
    succeed. One no-op step, not none: act fails the post stage of a composite without steps."""
    refs = re.findall(r"uses:\s*([\w.-]+/[\w.-]+@[0-9a-f]{40})", (REPO / "action.yml").read_text())
    args = []
    for number, ref in enumerate(refs):
        stub = tmp_path / f"action-stub-{number}"
        stub.mkdir()
        (stub / "action.yml").write_text(
            "name: stub\ndescription: does nothing here\nruns:\n  using: composite\n"
            "  steps:\n    - run: 'true'\n      shell: bash\n")
        args += ["--local-repository", f"{ref}={stub}"]
    return args


def run_action(tmp_path: Path, project: Path, workflow: str, *env: str) -> subprocess.CompletedProcess:
    """A repository holding the action and ``project``, pushed through ``workflow`` under act."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("action.yml", "Dockerfile", "entrypoint.sh"):
        shutil.copy2(REPO / name, repo / name)
    shutil.copytree(REPO / "harness", repo / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(project, repo / "project", ignore=shutil.ignore_patterns("__pycache__", ".async-test"))
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(REPO / "tests" / "e2e" / "act" / workflow, repo / ".github" / "workflows" / workflow)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):  # act reads the revision
        subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                       check=True, capture_output=True)
    shim = tmp_path / "bin"  # the engine's own docker client (the first on PATH lacks buildx)
    shim.mkdir()
    (shim / "docker").symlink_to(DOCKER)
    cmd = [ACT, "push", "-P", "ubuntu-latest=-self-hosted", "-W", f".github/workflows/{workflow}",
           "--env", f"SRC={repo}", *[arg for pair in env for arg in ("--env", pair)], *offline_actions(tmp_path)]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1500,
                          env=dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}"))


def test_hardcoded_trust_shape_with_ci_host_through_the_action(tmp_path: Path):
    shape = BY_NAME["hardcoded-trust"]
    done = run_action(tmp_path, REPO / "tests" / "projects" / shape.name, "shape.yml", f"IMAGE={IMAGE}")
    log = done.stdout + done.stderr
    total = sum(shape.unit.values()) + sum(shape.integration.values())
    assert done.returncode == 0, log[-6000:]
    assert f"OUTPUT tests={total} failures=0 exit-code=0" in log, log[-6000:]


LOCKED_TEST = """\
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import text


def installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def test_the_locked_versions_and_only_the_asked_group():
    assert (installed("six"), installed("iniconfig"), installed("tomli-w")) == ("1.15.0", "1.1.1", None)


async def test_the_server(async_db_session):
    assert (await async_db_session.scalar(text("SHOW server_version"))).startswith("18")
"""


@pytest.mark.network
def test_a_locked_project_on_postgres_18_through_the_action(tmp_path: Path):
    """uv.lock with groups (one asked for), postgres-version 18: the action builds that image itself."""
    project = tmp_path / "locked"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    (project / "tests" / "test_locked.py").write_text(LOCKED_TEST)
    pyproject = ('[project]\nname = "locked"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = ["six{pin}"]\n'
                 '\n[dependency-groups]\ntest = ["iniconfig==1.1.1"]\nlint = ["tomli-w==1.0.0"]\n')
    (project / "pyproject.toml").write_text(pyproject.format(pin="==1.15.0"))
    subprocess.run(["uv", "lock", "--quiet", "--project", str(project)], check=True, timeout=300)
    (project / "pyproject.toml").write_text(pyproject.format(pin=">=1.15"))  # only the lock holds six at 1.15.0
    done = run_action(tmp_path, project, "locked.yml", "BASE_IMAGE=async-test-base:bookworm")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "OUTPUT tests=2 failures=0 exit-code=0" in log, log[-6000:]
    assert "SERVER 18." in log and " embedded" in log, log[-6000:]
    assert "PostgreSQL 18, on async-test-base:bookworm" in log, "the tag step says what it builds"
    assert "installing from uv.lock (frozen; groups: test)" in log, log[-6000:]
