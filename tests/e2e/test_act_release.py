"""The release workflow's first job under act, as far as it goes without GitHub or a registry: a tag
that matches every stated version passes the check; one that does not stops the release there."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from async_test_harness import __version__
from helpers import REPO, commit_all, docker_shim, git

ACT = shutil.which("act") or str(Path(sys.executable).parent / "act")
DOCKER = shutil.which("docker", path="/usr/bin") or "/usr/bin/docker"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(ACT).exists(), reason="needs act")]
FILES = ["CHANGELOG.md", "Dockerfile", "scripts/release.py", "harness/pyproject.toml",
         "harness/src/async_test_harness/__init__.py", ".github/workflows/release.yml"]


def run_release(tmp_path: Path, tag: str) -> subprocess.CompletedProcess:
    src = tmp_path / "src"
    for name in FILES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    commit_all(src)
    git(src, "tag", tag)
    # actions/checkout cannot be fetched here: a stand-in that copies the tagged tree into the workspace
    checkout = re.search(r"uses: (actions/checkout@[0-9a-f]{40})", (REPO / ".github/workflows/release.yml")
                         .read_text()).group(1)
    stub = tmp_path / "checkout"
    stub.mkdir()
    (stub / "action.yml").write_text("name: checkout stand-in\ndescription: copies $SRC\nruns:\n"
                                     "  using: composite\n"
                                     "  steps:\n    - run: cp -a \"$SRC/.\" \"$GITHUB_WORKSPACE/\"\n"
                                     "      shell: bash\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": f"refs/tags/{tag}", "ref_name": tag}))
    cmd = [ACT, "push", "-j", "check", "-P", "ubuntu-latest=-self-hosted", "-W", ".github/workflows/release.yml",
           "-e", str(event), "--env", f"SRC={src}", "--env", f"GITHUB_REF_NAME={tag}",
           "--local-repository", f"{checkout}={stub}"]
    return subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=600,
                          env=docker_shim(tmp_path / "bin", DOCKER))


def test_a_tag_of_the_stated_version_passes_the_release_check(tmp_path):
    done = run_release(tmp_path, f"v{__version__}")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert f"release: v{__version__} matches every stated version and has notes" in log


def test_a_tag_of_another_version_stops_the_release_at_the_check(tmp_path):
    done = run_release(tmp_path, "v9.9.9")
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "harness/pyproject.toml states version" in log and "the tag v9.9.9" in log, log[-4000:]
