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
from typing import Dict, List, Sequence

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
    # poetry.lock; its drivers are extras its CI installs; the project itself installed by the image
    "reads-own-version": {"ASYNC_TEST_EXTRAS": "all"},
    # requirements.txt pins pytest==7.1.2 and pytest-cov==3.0.0: inside the harness's ranges (nox -s old_pins)
    "url-list": {},
}


def workspace(shape: Shape, tmp_path: Path, uid: int = 1000) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(PROJECTS / shape.name, ws, ignore=shutil.ignore_patterns("__pycache__", ".async-test", "*.db"))
    for path in [ws, *ws.rglob("*")]:
        os.lchown(path, uid, uid)
    tmp_path.chmod(0o755)
    return ws


def docker_run(ws: Path, project: str, env: Dict[str, str], extra: List[str],
               args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    cmd = [DOCKER, "run", "--rm", "-v", f"{ws}:/workspace"]
    if os.path.exists(HOST_CA):  # this machine reaches PyPI through a TLS-inspecting proxy
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [*extra, str(IMAGE), project or ".", *args]
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
    done = docker_run(ws, shape.pytest_dir, {**shape.env, **INSTALL[name]}, [], shape.run_args)
    check(shape, ws, done)
    if shape.installed:  # installed editable from a copy: nothing new in the user's tree
        made = sorted(str(p.relative_to(ws)) for p in ws.rglob("*") if p.name.endswith(".egg-info")
                      or p.name in ("build", "dist"))
        assert not made, made


def test_the_installed_project_stays_kept_and_follows_the_code(tmp_path: Path):
    """The kept environment is reused on the next run, and the editable install reads the workspace's
    code, so a change to it is seen without a new install; a missing extra names the setting."""
    shape = BY_NAME["reads-own-version"]
    ws = workspace(shape, tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chown(cache, 1000, 1000)
    mount = ["-v", f"{cache}:/cache"]
    first = docker_run(ws, "", {**shape.env, **INSTALL[shape.name]}, mount, shape.run_args)
    check(shape, ws, first)
    assert "installing the project itself, editable" in first.stdout, first.stdout[-3000:]
    version = ws / "tests" / "test_version.py"
    version.write_text(version.read_text().replace('"0.4.1"', '"0.4.1" and tinyorm.EDITED'))
    (ws / "tinyorm" / "__init__.py").write_text((ws / "tinyorm" / "__init__.py").read_text() + "EDITED = True\n")
    second = docker_run(ws, "", {**shape.env, **INSTALL[shape.name]}, mount, shape.run_args)
    assert "kept environment reused" in second.stdout or "reusing the test environment" in second.stdout, \
        second.stdout[-3000:]
    check(shape, ws, second)
    # Without the extras, the sqlite driver is missing: the collection error says what to set.
    third = docker_run(ws, "", dict(shape.env), mount, shape.run_args)
    assert third.returncode != 0
    assert "ASYNC_TEST_EXTRAS=all" in third.stdout + third.stderr, third.stdout[-4000:]


def test_install_after_adds_to_the_automatic_install(tmp_path: Path):
    """`install-after`: the locked dependencies, then the user's command, with pip in the environment."""
    shape = BY_NAME["reads-own-version"]
    ws = workspace(shape, tmp_path)
    env = {**shape.env, "ASYNC_TEST_EXTRAS": "postgresql",
           "ASYNC_TEST_INSTALL_AFTER": "pip --version && uv pip install 'aiosqlite>=0.19'"}
    done = docker_run(ws, "", env, ["-e", "ASYNC_TEST_VENV_CACHE=false"], shape.run_args)
    check(shape, ws, done)
    assert "then ASYNC_TEST_INSTALL_AFTER (your command)" in done.stdout, done.stdout[-3000:]


def test_hardcoded_host_postgres_with_ci_set_maps_to_the_containers_loopback(tmp_path: Path):
    """With CI set, the shape connects to the host `postgres`: what the action's `hosts` input
    (docker run --add-host postgres:127.0.0.1) is for."""
    shape = BY_NAME["hardcoded-trust"]
    ws = workspace(shape, tmp_path)
    env = {**shape.env, **INSTALL[shape.name], "CI": "true"}
    done = docker_run(ws, "", env, ["--add-host", "postgres:127.0.0.1"])
    check(shape, ws, done)
