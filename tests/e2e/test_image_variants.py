"""The image as projects need it (issue 15): their lock file, their Python, their PostgreSQL, a
compiler when a dependency only comes as source, and a warm environment when nothing changed.

The variants are built from this tree by scripts/build-image.sh (Docker's layer cache makes a
rebuild of unchanged files take seconds). Skipped without ASYNC_TEST_IMAGE, as test_image.py is.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, Optional

import pytest

from helpers import POETRY_LOCKED, REPO, hashed_requirements

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(not IMAGE, reason="set ASYNC_TEST_IMAGE to an image built by scripts/build-image.sh")]

VARIANTS = {"pg17": {"PG_MAJOR": "17"}, "pg18": {"PG_MAJOR": "18"}, "build": {"BUILD_TOOLS": "true"}}


def variant(name: str) -> str:
    """The image variant ``name`` built from this tree (once per test session, serialised across workers)."""
    tag = f"{IMAGE}-{name}"
    stamp = Path("/tmp") / f"async-test-variant-{tag.replace(':', '-').replace('/', '-')}.built"
    with open("/tmp/async-test-variant-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        session = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
        if not (stamp.exists() and stamp.read_text() == session):
            done = subprocess.run([str(REPO / "scripts" / "build-image.sh"), tag], capture_output=True, text=True,
                                  env=dict(os.environ, **VARIANTS[name]), timeout=1800)
            assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
            stamp.write_text(session)
    return tag


def workspace(tmp_path: Path, files: Dict[str, str]) -> Path:
    ws = tmp_path / "ws"
    for name, text in files.items():
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for path in [ws, *ws.rglob("*")]:
        os.lchown(path, 1000, 1000)
    tmp_path.chmod(0o755)
    return ws


def run(image: str, ws: Path, *args: str, env: Optional[Dict[str, str]] = None, cache: Optional[Path] = None):
    cmd = [DOCKER, "run", "--rm", "--shm-size=1g", "-v", f"{ws}:/workspace"]
    if cache is not None:
        cmd += ["-v", f"{cache}:/cache"]
    if os.path.exists(HOST_CA):  # this machine reaches PyPI through a TLS-inspecting proxy
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    done = subprocess.run([*cmd, image, *args], capture_output=True, text=True, timeout=900)
    return done.returncode, " ".join(done.stdout.split()), done.stdout


def environment(ws: Path) -> Dict[str, str]:
    return json.loads((ws / ".async-test" / "summary.json").read_text())["environment"]


DB_TEST = """\
    from sqlalchemy import text

    async def test_server(async_db_session):
        assert await async_db_session.scalar(text("SELECT 1")) == 1
"""
PYTEST_INI = "[pytest]\nasyncio_mode = auto\n"


def test_postgres_18_comes_from_the_embedded_wheel(tmp_path):
    ws = workspace(tmp_path, {"pytest.ini": PYTEST_INI, "tests/test_db.py": DB_TEST})
    code, out, raw = run(variant("pg18"), ws, env={"ASYNC_TEST_PG_VERSION": "18"})
    assert code == 0, raw[-4000:]
    env = environment(ws)
    assert env["postgresql"].startswith("18.") and env["postgresql_source"].startswith("embedded"), env
    assert "async-test: PostgreSQL 18." in out


def test_postgres_17_and_python_3_13_on_trixie_for_a_project_that_requires_3_12(tmp_path):
    ws = workspace(tmp_path, {"pytest.ini": PYTEST_INI, "tests/test_db.py": DB_TEST,
                              "pyproject.toml": '[project]\nname = "x"\nversion = "0"\nrequires-python = ">=3.12"\n'})
    code, out, raw = run(variant("pg17"), ws)
    assert code == 0, raw[-4000:]
    env = environment(ws)
    assert env["postgresql"].startswith("17.") and env["python"].startswith("3.13."), env
    # The same project on the default image (Python 3.11) is refused before anything installs.
    code, out, raw = run(IMAGE, ws)
    assert code == 2 and "requires Python >=3.12" in out, raw[-3000:]


def test_a_major_the_image_lacks_is_refused_before_the_install(tmp_path):
    ws = workspace(tmp_path, {"pytest.ini": PYTEST_INI, "tests/test_db.py": DB_TEST,
                              "requirements.txt": "async-test-no-such-package-anywhere==1.0\n"})
    code, out, raw = run(IMAGE, ws, env={"ASYNC_TEST_PG_VERSION": "17"})
    assert code == 2, raw[-3000:]
    assert "PostgreSQL 17 was asked for" in out and "only 15." in out and "PG_MAJOR=17" in out, out[-2000:]
    assert "installing from" not in out, "the install ran before the check"


def test_a_source_only_dependency_names_the_fix_and_builds_in_the_build_tools_image(tmp_path):
    ws = workspace(tmp_path, {
        "requirements.txt": "psycopg2==2.9.10\n",  # no Linux wheel: built from source, needs gcc and pg_config
        "tests/test_built.py": "import psycopg2\n\n\ndef test_built():\n"
                               "    assert psycopg2.__version__.startswith('2.9.10')\n",
    })
    code, out, raw = run(IMAGE, ws)
    assert code == 6, raw[-3000:]
    assert "psycopg2 has no wheel" in out and "build-tools: true" in out and "psycopg2-binary" in out, out[-2000:]
    code, out, raw = run(variant("build"), ws)
    assert code == 0, raw[-4000:]


UV_PROJECT = """\
    [project]
    name = "locked"
    version = "0"
    requires-python = ">=3.11"
    dependencies = ["six>=1.15"]

    [dependency-groups]
    test = ["iniconfig==1.1.1"]
    lint = ["tomli-w==1.0.0"]
"""
VERSIONS_TEST = """\
    from importlib.metadata import PackageNotFoundError, version

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    def test_locked_versions():
        assert (installed("six"), installed("iniconfig"), installed("tomli-w")) == EXPECTED
"""


def lock_uv(ws: Path, pin: str) -> None:
    """uv lock on the host, with six held at ``pin``; then the pyproject allows the newest: only the lock holds it."""
    text = (ws / "pyproject.toml").read_text()
    (ws / "pyproject.toml").write_text(text.replace('"six>=1.15"', f'"six=={pin}"'))
    subprocess.run(["uv", "lock", "--quiet", "--project", str(ws)], check=True, timeout=300)
    (ws / "pyproject.toml").write_text(text)
    for path in (ws / "pyproject.toml", ws / "uv.lock"):
        os.lchown(path, 1000, 1000)


@pytest.mark.parametrize("groups", ["", "test"])
def test_uv_lock_with_groups_through_the_image(tmp_path, groups):
    expected = ("1.15.0", "1.1.1", None if groups else "1.0.0")
    ws = workspace(tmp_path, {"pyproject.toml": UV_PROJECT,
                              "tests/test_versions.py": VERSIONS_TEST.replace("EXPECTED", repr(expected))})
    lock_uv(ws, "1.15.0")
    code, out, raw = run(IMAGE, ws, env={"ASYNC_TEST_GROUPS": groups} if groups else {})
    assert code == 0, raw[-4000:]
    what = f"groups: {groups}" if groups else "all groups"
    assert f"installed from uv.lock (frozen; {what})" in out, out[-3000:]


def test_poetry_lock_and_hashed_requirements_through_the_image(tmp_path):
    poetry = workspace(tmp_path / "poetry", {
        **POETRY_LOCKED,
        "tests/test_versions.py": VERSIONS_TEST.replace("EXPECTED", repr(("1.15.0", "1.1.1", None))),
    })
    code, out, raw = run(IMAGE, poetry)
    assert code == 0, raw[-4000:]
    assert "installed from poetry.lock (locked versions as constraints; groups: test)" in out, out[-3000:]

    hashed = hashed_requirements(tmp_path, "six==1.15.0", "iniconfig==1.1.1")
    plain = workspace(tmp_path / "hashed", {
        "requirements.txt": hashed,
        "tests/test_versions.py": VERSIONS_TEST.replace("EXPECTED", repr(("1.15.0", "1.1.1", None))),
    })
    code, out, raw = run(IMAGE, plain)
    assert code == 0, raw[-4000:]
    assert "installed from requirements.txt (hashes required" in out, out[-3000:]


def test_a_warm_run_reuses_the_kept_environment_until_a_pin_changes(tmp_path):
    ws = workspace(tmp_path, {"requirements.txt": "six==1.15.0\n",
                              "tests/test_six.py": "import six\n\ndef test_six():\n    assert six.__version__\n"})
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chown(cache, 1000, 1000)
    phases = []
    for _ in range(2):
        code, out, raw = run(IMAGE, ws, cache=cache)
        assert code == 0, raw[-4000:]
        phases.append(json.loads((ws / ".async-test" / "summary.json").read_text())["phases"]["dependency_install"])
    assert "reusing the test environment installed from requirements.txt" in out, out[-3000:]
    assert "kept environment reused" in out, "the run header says the environment was reused"
    print(f"dependency install: cold {phases[0]:.2f}s, kept environment {phases[1]:.2f}s")
    (ws / "requirements.txt").write_text("six==1.16.0\n")
    code, out, raw = run(IMAGE, ws, cache=cache)
    assert code == 0 and "installing from requirements.txt" in out and "reusing" not in out, raw[-3000:]
    code, out, raw = run(IMAGE, ws, cache=cache, env={"ASYNC_TEST_VENV_CACHE": "false"})
    assert code == 0 and "installing from requirements.txt" in out and "reusing" not in out, raw[-3000:]
    kept = [p for p in (cache / "venvs").iterdir() if p.is_dir()]
    assert len(kept) == 2, "one environment per set of pins"


PYENV_312 = sorted(Path("/root/.pyenv/versions").glob("3.12.*"))


@pytest.mark.skipif(not PYENV_312, reason="needs a Python 3.12 on this host to put into the container")
def test_a_project_that_requires_3_12_runs_on_a_python_uv_finds_in_the_image(tmp_path):
    """The image has 3.11; a Python 3.12 is made available inside it (as `uv python install` would put one
    into /cache/python where GitHub is reachable): the tests run on it, the runner stays on 3.11."""
    python = PYENV_312[-1]
    ws = workspace(tmp_path, {
        "pyproject.toml": '[project]\nname = "x"\nversion = "0"\nrequires-python = ">=3.12"\n',
        "pytest.ini": PYTEST_INI, "tests/test_db.py": DB_TEST,
        "tests/test_version.py": "import sys\n\n\ndef test_the_project_s_python():\n"
                                 "    assert sys.version_info[:2] == (3, 12)\n",
    })
    extra = {"ASYNC_TEST_PYTHON_DOWNLOADS": "false", "LD_LIBRARY_PATH": "/opt/python312/lib",
             "PATH": "/opt/python312/bin:/opt/async-test/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                     "/sbin:/bin"}
    cmd_mount = ["-v", f"{python}:/opt/python312:ro"]
    done = subprocess.run([DOCKER, "run", "--rm", "--shm-size=1g", "-v", f"{ws}:/workspace", *cmd_mount,
                           "-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro",
                           "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt",
                           *[arg for k, v in extra.items() for arg in ("-e", f"{k}={v}")], IMAGE],
                          capture_output=True, text=True, timeout=900)
    out = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stdout[-4000:]
    assert environment(ws)["python"] == python.name, environment(ws)
    assert f"the tests run on Python {python.name}" in out and "the harness's runner on the image's 3.11" in out

    # Without it, and without downloads, the refusal says how to get one.
    code, out, raw = run(IMAGE, ws, env={"ASYNC_TEST_PYTHON_DOWNLOADS": "false"})
    assert code == 2 and "requires Python >=3.12" in out and "ASYNC_TEST_PYTHON_DOWNLOADS=true" in out, raw[-3000:]
