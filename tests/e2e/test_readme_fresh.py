"""README's pip quick start, typed verbatim on a fresh minimal Debian (issue 24 item 7).

A container from the local base image (Debian bookworm minbase with python3, python3-venv and
ca-certificates: what scripts/build-image.sh makes with mmdebstrap), the repository copied in,
README's block run as it is, as root. The one thing added is the line README asks for behind a
TLS-inspecting proxy: PIP_CERT (this machine has such a proxy). Slow (pip downloads the harness,
the embedded PostgreSQL and the example's dependencies): marked slow, run by .ci/run's test command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO

DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
BASE = os.environ.get("ASYNC_TEST_FRESH_BASE", "async-test-base:bookworm")
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def base_image_present() -> bool:
    try:
        return subprocess.run([DOCKER, "image", "inspect", BASE], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(not os.environ.get("ASYNC_TEST_IMAGE"),
                                 reason="an image-tier test: set ASYNC_TEST_IMAGE (.ci/run does, after "
                                        "scripts/build-image.sh made the base image)")]


def test_readme_pip_quick_start_verbatim_on_fresh_debian(tmp_path: Path) -> None:
    if not base_image_present():
        pytest.skip(f"no {BASE} image (scripts/build-image.sh makes it)")
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start: the plugin on your machine", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".nox", "__pycache__", "*.egg-info", ".async-test", ".pytest_cache", ".mypy_cache",
        ".ruff_cache", "build", "dist", "node_modules"))
    (tmp_path / "steps.sh").write_text("set -euo pipefail\n" + block.group(1))
    cmd = [DOCKER, "run", "--rm", "--shm-size=1g", "-v", f"{repo}:/repo", "-v", f"{tmp_path / 'steps.sh'}:/steps.sh:ro",
           "-w", "/repo"]
    if os.path.exists(HOST_CA):  # README: "behind a TLS-inspecting proxy ... export PIP_CERT=..."
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/proxy-ca.crt:ro", "-e", "PIP_CERT=/etc/ssl/certs/proxy-ca.crt"]
    cmd += [BASE, "bash", "/steps.sh"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    tail = done.stdout[-5000:] + done.stderr[-3000:]
    assert done.returncode == 0, tail
    assert re.search(r"\b13 passed\b", done.stdout), tail  # README: "runs 13 tests"
