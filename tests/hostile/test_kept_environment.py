"""The kept test environment cannot be poisoned, and the image never runs tests as root (issue 23, items 2, 4).

Found by an adversarial pass: in the image, project A's test wrote a ``.pth`` file into the kept
environment under /cache; project B, with the same lock file and the same cache volume, printed
"reusing the test environment..." and ran the planted code. And with a root-owned workspace the
tests ran as uid 0 although docs/container.md promised an unprivileged user. Now the environment is
sealed (root's, read-only, bytecode compiled in) and checked before each reuse, and the tests run as
the workspace's owner or, for a root-owned workspace, as the unprivileged ``async-test-run``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from async_test_harness.runner import venv_cache
from async_test_harness.runner.privileges import ACCOUNT_UID, seal_tree

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
SETPRIV = shutil.which("setpriv")
as_root = pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV, reason="needs root (chown) and setpriv")
in_image = pytest.mark.skipif(not IMAGE or not DOCKER, reason="set ASYNC_TEST_IMAGE to an image built by "
                              "scripts/build-image.sh")


def fake_environment(root: Path, uid: int = 1000) -> venv_cache.Entry:
    """A kept environment as the installer leaves it (the user's files), before it is sealed."""
    one = venv_cache.entry(root, "k" * 24)
    site = one.path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "dep.py").write_text("x = 1\n")
    (one.path / "bin").mkdir()
    (one.path / "bin" / "python").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    one.mark_ready("requirements.txt")
    for path in [one.path, *one.path.rglob("*")]:
        os.lchown(path, uid, uid)
        if not path.is_symlink():
            path.chmod(0o775)
    return one


@as_root
def test_a_sealed_environment_cannot_be_written_by_another_account(tmp_path):
    one = fake_environment(tmp_path)
    assert "owned by uid 1000" in (one.unsealed() or ""), "not sealed yet: the installer's files"
    seal_tree(one.path)
    assert one.unsealed() is None
    nobody = pwd.getpwnam("nobody")
    site = one.path / "lib" / "python3.11" / "site-packages"
    tmp_path.chmod(0o755)
    for attempt in (f"echo 'import os' > {site}/evil.pth", f"echo 'x = 2' >> {site}/dep.py",
                    f"mv {site} {one.path}/moved", f"touch {one.path}/{venv_cache.MARKER}"):
        done = subprocess.run([SETPRIV, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                               "sh", "-c", attempt], capture_output=True, text=True)
        assert done.returncode != 0, f"another account changed the sealed environment: {attempt}"
    assert sorted(p.name for p in site.iterdir()) == ["dep.py"]


@as_root
def test_every_change_root_did_not_seal_is_found_before_a_reuse(tmp_path):
    """What the check catches: a planted file of another owner, a file writable by others, a link in place
    of the folder, another environment's marker (a sealed environment renamed to this key)."""
    one = fake_environment(tmp_path)
    seal_tree(one.path)
    site = one.path / "lib" / "python3.11" / "site-packages"
    (site / "evil.pth").write_text("import os\n")
    os.chown(site / "evil.pth", 1000, 1000)
    assert one.unsealed() == "lib/python3.11/site-packages/evil.pth is owned by uid 1000, not root"
    os.chown(site / "evil.pth", 0, 0)
    (site / "evil.pth").chmod(0o666)
    assert "evil.pth is writable by others than root" in (one.unsealed() or "")
    (site / "evil.pth").unlink()
    assert one.unsealed() is None
    other = venv_cache.entry(tmp_path, "o" * 24)
    one.path.rename(other.path)
    assert other.unsealed() == "its marker names another environment"
    other.path.rename(one.path)
    elsewhere = tmp_path / "elsewhere"
    one.path.rename(elsewhere)
    one.path.symlink_to(elsewhere)
    assert one.unsealed() == "it is not a folder"


# --------------------------------------------------------------------------- in the image

PLANT = """
import os, sys, sysconfig
from pathlib import Path


def test_plant():
    site = Path(sysconfig.get_paths()["purelib"])
    tried = {}
    for name, action in (
        ("pth", lambda: (site / "zz_planted.pth").write_text("import os; os.environ['PLANTED'] = '1'\\n")),
        ("module", lambda: (site / "planted_module.py").write_text("PLANTED = 1\\n")),
        ("marker", lambda: (Path(sys.prefix) / ".async-test-ready").write_text("{}")),
        ("pycache", lambda: (site / "__pycache__" / "zz_planted.cpython-311.pyc").write_bytes(b"")),
    ):
        try:
            action()
            tried[name] = "written"
        except OSError as exc:
            tried[name] = type(exc).__name__
    Path(".async-test", "planted.json").write_text(__import__("json").dumps(
        {"tried": tried, "uid": os.getuid(), "prefix": sys.prefix}))
"""

CHECK = """
import os, sys
from pathlib import Path


def test_no_planted_code_ran():
    Path(".async-test", "checked.json").write_text(__import__("json").dumps(
        {"planted": os.environ.get("PLANTED"), "uid": os.getuid(), "prefix": sys.prefix}))
    assert "PLANTED" not in os.environ, "code planted by another project's tests ran here"
"""


def project(root: Path, test: str, uid: int = 1000) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "requirements.txt").write_text("iniconfig==2.0.0\n")  # the same pins: the same kept environment
    (root / "tests" / "test_it.py").write_text(test)
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, uid)
    return root


def docker_run(ws: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [DOCKER, "run", "--rm", "-v", f"{ws}:/workspace", "-v", f"{cache}:/cache"]
    if os.path.exists(HOST_CA):  # this machine reaches PyPI through a TLS-inspecting proxy
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"]
    return subprocess.run([*cmd, *extra, IMAGE], capture_output=True, text=True, timeout=900)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    folder = tmp_path / "cache"
    folder.mkdir()
    os.chown(folder, 1000, 1000)  # as the action's cache: the runner user's folder
    return folder


@pytest.mark.slow
@in_image
def test_project_a_cannot_plant_code_in_the_environment_project_b_reuses(tmp_path, cache):
    a = project(tmp_path / "a", PLANT)
    done = docker_run(a, cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    planted = json.loads((a / ".async-test" / "planted.json").read_text())
    assert planted["uid"] == 1000 and planted["prefix"].startswith("/cache/venvs/"), planted
    assert set(planted["tried"].values()) == {"PermissionError"}, planted  # nothing in the environment changed

    b = project(tmp_path / "b", CHECK)
    done = docker_run(b, cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "reusing the test environment installed from requirements.txt" in done.stdout, done.stdout[-3000:]
    checked = json.loads((b / ".async-test" / "checked.json").read_text())
    assert checked["prefix"] == planted["prefix"] and checked["planted"] is None, checked


@pytest.mark.slow
@in_image
def test_an_environment_changed_behind_the_seal_is_installed_afresh(tmp_path, cache):
    """A change the tests could not make (made here from the host, as another container's root
    could): the next run finds it, says so and installs afresh; the planted code never runs."""
    a = project(tmp_path / "a", CHECK)
    done = docker_run(a, cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    kept = next(p for p in (cache / "venvs").iterdir() if p.is_dir())
    site = next(kept.glob("lib/python*/site-packages"))
    (site / "zz_planted.pth").write_text("import os; os.environ['PLANTED'] = '1'\n")
    os.chown(site / "zz_planted.pth", 1000, 1000)
    done = docker_run(a, cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert (f"the kept test environment /cache/venvs/{kept.name} is not as it was sealed after its install "
            f"({site.relative_to(kept)}/zz_planted.pth is owned by uid 1000, not root); installing it afresh"
            ) in done.stdout, done.stdout[-3000:]
    assert not (site / "zz_planted.pth").exists()
    assert json.loads((a / ".async-test" / "checked.json").read_text())["planted"] is None


@pytest.mark.slow
@in_image
def test_with_a_root_owned_workspace_the_tests_run_unprivileged_and_the_owner_gets_the_results(tmp_path, cache):
    ws = project(tmp_path / "ws", CHECK, uid=0)
    done = docker_run(ws, cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "is owned by root: the tests run as the unprivileged account 'async-test-run'" in done.stdout
    checked = json.loads((ws / ".async-test" / "checked.json").read_text())
    assert checked["uid"] == ACCOUNT_UID, checked
    summary = ws / ".async-test" / "summary.json"
    assert json.loads(summary.read_text())["exit"]["code"] == 0  # written, and readable by the owner (root)
    assert {p.stat().st_uid for p in (ws / ".async-test").iterdir()} == {ACCOUNT_UID}
    assert all(p.stat().st_mode & 0o004 for p in (ws / ".async-test").iterdir() if p.is_file()), "readable by all"
    assert {p.stat().st_uid for p in ws.iterdir() if p.name != ".async-test"} == {0}, "the rest is untouched"
