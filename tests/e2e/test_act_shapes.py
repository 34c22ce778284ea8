"""A real project's shape through the composite action under act (issue 11): unchanged, configured
only by inputs. Needs the image (ASYNC_TEST_IMAGE) and act, as tests/e2e/test_act.py does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from shapes import BY_NAME

from helpers import POETRY_LOCKED, REPO, commit_all, copy_action, docker_shim, hashed_requirements, write_files

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
        if ref.startswith("actions/cache@"):  # with cache/restore and cache/save (the baseline's)
            args += ["--local-repository", f"{ref}={REPO / 'tests' / 'e2e' / 'act' / 'cache'}"]
            continue
        stub = tmp_path / f"action-stub-{number}"
        stub.mkdir()
        (stub / "action.yml").write_text(
            "name: stub\ndescription: does nothing here\nruns:\n  using: composite\n"
            "  steps:\n    - run: 'true'\n      shell: bash\n")
        args += ["--local-repository", f"{ref}={stub}"]
    return args


def run_action(tmp_path: Path, project: Optional[Path], workflow: str, *env: str,
               projects: Optional[Dict[str, Path]] = None) -> subprocess.CompletedProcess:
    """A repository holding the action and ``project`` (or ``projects`` by folder), pushed through ``workflow``
    under act."""
    repo = copy_action(tmp_path / "repo")
    every = dict(projects or {})
    if project is not None:
        every["project"] = project
    for folder, source in every.items():
        shutil.copytree(source, repo / folder, ignore=shutil.ignore_patterns("__pycache__", ".async-test"))
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(REPO / "tests" / "e2e" / "act" / workflow, repo / ".github" / "workflows" / workflow)
    commit_all(repo)
    cmd = [ACT, "push", "-P", "ubuntu-latest=-self-hosted", "-W", f".github/workflows/{workflow}",
           "--env", f"SRC={repo}", *[arg for pair in env for arg in ("--env", pair)], *offline_actions(tmp_path)]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1500,
                          env=docker_shim(tmp_path / "bin", DOCKER))


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
    # installed now, or reused: the action's cache keeps the environment of an unchanged lock
    assert "from uv.lock (frozen; groups: test)" in log, log[-6000:]


PINNED_VERSIONS_TEST = ("from importlib.metadata import version\n\n\ndef test_locked():\n"
                        "    assert (version('six'), version('iniconfig')) == ('1.15.0', '1.1.1')\n")


@pytest.mark.network
def test_each_install_kind_through_the_action(tmp_path: Path):
    """poetry.lock, hashed requirements, a source-only dependency (build-tools image), requires-python >= 3.12
    (the PostgreSQL 17 / Python 3.13 image, postgres-version 17): each one step of one workflow."""
    from test_image_variants import variant

    hashed = hashed_requirements(tmp_path, "six==1.15.0", "iniconfig==1.1.1")
    projects = {
        "poetry": write_files(tmp_path / "poetry", {**POETRY_LOCKED,
                                                    "tests/test_versions.py": PINNED_VERSIONS_TEST}),
        "hashed": write_files(tmp_path / "hashed", {"requirements.txt": hashed,
                                                    "tests/test_versions.py": PINNED_VERSIONS_TEST}),
        "source-only": write_files(tmp_path / "source-only", {
            "requirements.txt": "psycopg2==2.9.10\n",
            "tests/test_built.py": "import psycopg2\n\n\ndef test_built():\n    assert psycopg2.__version__\n"}),
        "needs-312": write_files(tmp_path / "needs-312", {
            "pyproject.toml": '[project]\nname = "n"\nversion = "0"\nrequires-python = ">=3.12"\n',
            "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
            "tests/test_db.py": ("import sys\n\nfrom sqlalchemy import text\n\n\n"
                                 "async def test_server(async_db_session):\n    assert sys.version_info >= (3, 12)\n"
                                 "    assert (await async_db_session.scalar(text('SHOW server_version')))"
                                 ".startswith('17')\n")}),
    }
    done = run_action(tmp_path, None, "kinds.yml", f"IMAGE={IMAGE}", f"BUILD_IMAGE={variant('build')}",
                      f"PG17_IMAGE={variant('pg17')}", projects=projects)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-8000:]
    kinds = dict(re.findall(r"KIND (\S+) (\d+ \S+ \S+)", log))
    assert kinds["poetry"].startswith("0 3.11") and kinds["hashed"].startswith("0 3.11"), kinds
    assert kinds["source-only"].startswith("0 "), kinds
    code, python, server = kinds["needs-312"].split()
    assert (code, python[:4], server[:3]) == ("0", "3.13", "17."), kinds
    # installed, or reused from the action's cache when this machine ran them before
    assert "from poetry.lock (locked versions" in log and "from requirements.txt (hashes required" in log


@pytest.mark.network
def test_a_library_reading_its_own_version_through_the_action(tmp_path: Path):
    """Issue 24: `extras: all` and the project itself installed by the image; CI's `pytest tests/` as
    pytest-args (benchmarks/ beside it would fail to collect)."""
    shape = BY_NAME["reads-own-version"]
    done = run_action(tmp_path, REPO / "tests" / "projects" / shape.name, "own-version.yml", f"IMAGE={IMAGE}")
    log = done.stdout + done.stderr
    total = sum(shape.unit.values()) + sum(shape.integration.values())
    assert done.returncode == 0, log[-6000:]
    assert f"OUTPUT tests={total} failures=0 exit-code=0" in log, log[-6000:]
    assert "the project itself, editable" in log, log[-6000:]
