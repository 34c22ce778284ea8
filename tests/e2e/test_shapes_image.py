"""Real projects' shapes through the image, as `docker run` users and the action run them (issue 11).

The in-process tier (tests/integration/test_real_shapes.py) runs every shape through pytest and
async-test run; here the shapes whose dependencies the image can install run in the container,
settings given as `-e ASYNC_TEST_*` (the action's `env` input), the project unchanged.
Skipped without ASYNC_TEST_IMAGE (.ci/run builds the image and sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
from shapes import BY_NAME, Shape

from helpers import REPO

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
PROJECTS = REPO / "tests" / "projects"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IMAGE, reason="set ASYNC_TEST_IMAGE to an image built by scripts/build-image.sh")]

# What each shape's install needs beyond the image's automatic choice (requirements files, a
# [project] table): the dependency group its tests live in, or, for a poetry library whose
# psycopg2 has no wheel, an install command of the user's (lock files are issue 15's).
INSTALL: Dict[str, Dict[str, str]] = {
    "settings-at-import": {},
    "url-without-dbname": {"ASYNC_TEST_GROUPS": "dev"},
    "two-drivers": {"ASYNC_TEST_GROUPS": "testing"},
    "alembic-first": {},
    "hardcoded-trust": {"ASYNC_TEST_INSTALL": "uv pip install 'asyncpg>=0.28' psycopg2-binary",
                        "PYTHONPATH": "/workspace/src"},
}


def workspace(shape: Shape, tmp_path: Path, uid: int = 1000) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(PROJECTS / shape.name, ws, ignore=shutil.ignore_patterns("__pycache__", ".async-test", "*.db"))
    for path in [ws, *ws.rglob("*")]:
        os.lchown(path, uid, uid)
    tmp_path.chmod(0o755)
    return ws


def docker_run(ws: Path, project: str, env: Dict[str, str], extra: List[str]) -> subprocess.CompletedProcess:
    cmd = [DOCKER, "run", "--rm", "-v", f"{ws}:/workspace"]
    if os.path.exists(HOST_CA):  # this machine reaches PyPI through a TLS-inspecting proxy
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [*extra, str(IMAGE), project or "."]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def check(shape: Shape, ws: Path, done: subprocess.CompletedProcess) -> None:
    results = ws / shape.pytest_dir / ".async-test"
    tail = done.stdout[-5000:] + done.stderr[-2000:]
    assert (results / "summary.json").is_file(), tail
    summary = json.loads((results / "summary.json").read_text())
    assert done.returncode == 0 and summary["exit"]["code"] == 0, f"{summary['exit']}\n{tail}"
    for kind, expected in (("unit", shape.unit), ("integration", shape.integration)):
        counts = summary["passes"][kind]["counts"]
        assert {k: counts[k] for k in expected} == expected, (kind, counts, tail)
    postgres_checks = [line for line in (results / "junit-integration.xml").read_text().splitlines()
                       if "<testcase" in line and "postgresql" in line]
    assert postgres_checks and not any("<failure" in line for line in postgres_checks), tail


@pytest.mark.parametrize("name", sorted(INSTALL))
def test_shape_runs_unchanged_in_the_image(tmp_path: Path, name: str):
    shape = BY_NAME[name]
    ws = workspace(shape, tmp_path)
    done = docker_run(ws, shape.pytest_dir, {**shape.env, **INSTALL[name]}, [])
    check(shape, ws, done)


def test_hardcoded_host_postgres_with_ci_set_maps_to_the_containers_loopback(tmp_path: Path):
    """With CI set, the shape connects to the host `postgres`: what the action's `hosts` input
    (docker run --add-host postgres:127.0.0.1) is for."""
    shape = BY_NAME["hardcoded-trust"]
    ws = workspace(shape, tmp_path)
    env = {**shape.env, **INSTALL[shape.name], "CI": "true"}
    done = docker_run(ws, "", env, ["--add-host", "postgres:127.0.0.1"])
    check(shape, ws, done)
