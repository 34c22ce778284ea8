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
    GitHub is out of reach here: the cache step (skipped under act, and with an ``image`` input)
    gets a stand-in folder, so the job can succeed."""
    refs = re.findall(r"uses:\s*([\w.-]+/[\w.-]+@[0-9a-f]{40})", (REPO / "action.yml").read_text())
    args = []
    for number, ref in enumerate(refs):
        stub = tmp_path / f"action-stub-{number}"
        stub.mkdir()
        (stub / "action.yml").write_text(
            "name: stub\ndescription: never runs here\nruns:\n  using: composite\n  steps: []\n")
        args += ["--local-repository", f"{ref}={stub}"]
    return args


def test_hardcoded_trust_shape_with_ci_host_through_the_action(tmp_path: Path):
    shape = BY_NAME["hardcoded-trust"]
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("action.yml", "Dockerfile", "entrypoint.sh"):
        shutil.copy2(REPO / name, repo / name)
    shutil.copytree(REPO / "harness", repo / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "tests" / "projects" / shape.name, repo / "project",
                    ignore=shutil.ignore_patterns("__pycache__", ".async-test"))
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(REPO / "tests" / "e2e" / "act" / "shape.yml", repo / ".github" / "workflows" / "shape.yml")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):  # act reads the revision
        subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                       check=True, capture_output=True)
    shim = tmp_path / "bin"  # the engine's own docker client (the first on PATH lacks buildx)
    shim.mkdir()
    (shim / "docker").symlink_to(DOCKER)
    cmd = [ACT, "push", "-P", "ubuntu-latest=-self-hosted", "-W", ".github/workflows/shape.yml",
           "--env", f"SRC={repo}", "--env", f"IMAGE={IMAGE}", *offline_actions(tmp_path)]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}"))
    log = done.stdout + done.stderr
    total = sum(shape.unit.values()) + sum(shape.integration.values())
    assert done.returncode == 0, log[-6000:]
    assert f"OUTPUT tests={total} failures=0 exit-code=0" in log, log[-6000:]
