"""The container image, built by .ci/run (scripts/build-image.sh), run as a user would run it.

Skipped when ASYNC_TEST_IMAGE is not set (no Docker engine on a developer's machine); .ci/run sets it.
"""

import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import EXAMPLE, REPO

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
SUITES = REPO / "examples" / "suites"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"

pytestmark = pytest.mark.skipif(not IMAGE, reason="set ASYNC_TEST_IMAGE to an image built by scripts/build-image.sh")


def workspace(source: Path, tmp_path: Path, uid: int = 1000) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".async-test"))
    for path in [target, *target.rglob("*")]:
        os.lchown(path, uid, uid)
    tmp_path.chmod(0o755)
    return target


def docker_run(ws: Path, *args: str, extra=(), env=None, timeout=600, name=None):
    cmd = [DOCKER, "run", "--rm", "-v", f"{ws}:/workspace"]
    if name:
        cmd += ["--name", name]
    if os.path.exists(HOST_CA):  # this machine reaches PyPI through a TLS-inspecting proxy
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [*extra, IMAGE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def with_waiting_test(ws: Path, seconds: int) -> None:
    """Add an integration test that signals it started (a file 'ready') and then waits."""
    test = ws / "tests" / "test_wait.py"
    test.write_text("import time\nfrom pathlib import Path\n\n"
                    "async def test_wait(async_db_session):\n"
                    f"    Path('ready').write_text('x')\n    time.sleep({seconds})\n")
    os.lchown(test, 1000, 1000)


def start_until_ready(ws: Path, name: str, extra) -> subprocess.Popen:
    """docker run in the background until the waiting test has started."""
    proc = subprocess.Popen([DOCKER, "run", "--name", name, *extra, "-v", f"{ws}:/workspace",
                             "-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro",
                             "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt", IMAGE],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (ws / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the test never started"
        time.sleep(0.2)
    return proc


def tree(root: Path, skip=".async-test"):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in root.rglob("*") if skip not in p.relative_to(root).parts}


def test_example_service_green_with_results_owned_by_the_workspace_owner(tmp_path):
    ws = workspace(EXAMPLE.parent, tmp_path)
    before = tree(ws)
    done = docker_run(ws, "backend")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = ws / "backend" / ".async-test"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["passes"]["unit"]["counts"]["passed"] == 6
    assert summary["passes"]["integration"]["counts"]["passed"] == 7
    assert summary["project"]["root"] == "/workspace/backend"
    assert summary["phases"]["dependency_install"] > 0
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [results, *results.rglob("*")]}
    assert owners == {(1000, 1000)}, owners
    assert tree(ws) == before, "the run changed the workspace outside the results folder"


@pytest.mark.parametrize("suite, code", [("failing", 1), ("empty", 5), ("unit_only", 0)])
def test_exit_codes_match_the_host_run(tmp_path, suite, code):
    ws = workspace(SUITES / suite, tmp_path)
    done = docker_run(ws)
    assert done.returncode == code, done.stdout[-3000:]
    assert json.loads((ws / ".async-test" / "summary.json").read_text())["exit"]["code"] == code


def test_postgres_is_not_reachable_from_outside(tmp_path):
    ws = workspace(SUITES / "integration_only", tmp_path)
    with_waiting_test(ws, 20)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host_port = s.getsockname()[1]
    name = f"async-test-net-{os.getpid()}"
    proc = start_until_ready(ws, name, ["--rm", "-p", f"127.0.0.1:{host_port}:5432"])
    try:
        ip = subprocess.run([DOCKER, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                             name], capture_output=True, text=True).stdout.strip()
        for address in [("127.0.0.1", host_port), (ip, 5432)]:
            with socket.socket() as s:
                s.settimeout(3)
                try:
                    s.connect(address)
                    s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # SSLRequest: a server would answer S or N
                    answer = s.recv(1)
                except OSError:
                    answer = b""
            assert answer == b"", f"PostgreSQL answered on {address}"
    finally:
        proc.wait(120)


def test_docker_stop_ends_cleanly_with_partial_results(tmp_path):
    ws = workspace(SUITES / "integration_only", tmp_path)
    with_waiting_test(ws, 300)
    name = f"async-test-stop-{os.getpid()}"
    proc = start_until_ready(ws, name, [])
    try:
        stop = subprocess.run([DOCKER, "stop", "-t", "20", name], capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out[-3000:]
        summary = json.loads((ws / ".async-test" / "summary.json").read_text())
        assert summary["exit"]["name"] == "interrupted"
        assert (ws / ".async-test" / "junit-integration.xml").exists()
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True)


def test_warm_dependency_cache_is_reported_against_cold(tmp_path):
    """Measured and reported (docs/performance.md), not asserted as a time."""
    ws = workspace(EXAMPLE.parent, tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chown(cache, 1000, 1000)
    timings = []
    for _ in range(2):
        done = docker_run(ws, "backend", "--only", "unit", extra=["-v", f"{cache}:/cache"])
        assert done.returncode == 0, done.stdout[-3000:]
        summary = json.loads((ws / "backend" / ".async-test" / "summary.json").read_text())
        timings.append(summary["phases"]["dependency_install"])
    assert any(cache.iterdir()), "uv wrote nothing to the mounted cache"
    print(f"dependency install: cold {timings[0]:.2f}s, warm {timings[1]:.2f}s")


def test_dependencies_that_cannot_install_get_their_own_exit_code(tmp_path):
    ws = workspace(SUITES / "unit_only", tmp_path)
    (ws / "requirements.txt").write_text("async-test-no-such-package-anywhere==1.0\n")
    done = docker_run(ws)
    assert done.returncode == 6, done.stdout[-3000:]
    assert "installing the project's dependencies failed" in done.stdout
    assert "async-test-no-such-package-anywhere" in done.stdout


def test_an_untrusted_certificate_is_reported_as_such_not_as_bad_requirements(tmp_path):
    """This machine reaches PyPI through a TLS-inspecting proxy: without its CA in the container,
    uv cannot verify the index. The message must say so (and how to pass the CA), exit 6."""
    ws = workspace(SUITES / "unit_only", tmp_path)
    (ws / "requirements.txt").write_text("six==1.16.0\n")
    os.lchown(ws / "requirements.txt", 1000, 1000)
    cmd = [DOCKER, "run", "--rm", "-v", f"{ws}:/workspace", "-e", "UV_NO_CACHE=1", IMAGE]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode == 0:
        pytest.skip("the package index is reachable with the image's own CAs here (no TLS-inspecting proxy)")
    assert done.returncode == 6, done.stdout[-3000:]
    out = " ".join(done.stdout.split())
    assert "certificate could not be verified" in out and "SSL_CERT_FILE" in out, out[-3000:]
    assert "Fix the requirements" not in out


def test_the_projects_pins_win_and_the_plugin_still_loads(tmp_path):
    ws = workspace(SUITES / "integration_only", tmp_path)
    (ws / "requirements.txt").write_text("pytest==7.4.4\npytest-asyncio==0.23.8\nsqlalchemy[asyncio]==2.0.36\n")
    done = docker_run(ws)
    assert done.returncode == 0, done.stdout[-4000:]
    env = json.loads((ws / ".async-test" / "summary.json").read_text())["environment"]
    assert (env["pytest"], env["pytest_asyncio"], env["sqlalchemy"]) == ("7.4.4", "0.23.8", "2.0.36")


def test_pyproject_dependencies_extras_and_groups(tmp_path):
    ws = workspace(SUITES / "unit_only", tmp_path)
    (ws / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\ndependencies = ["six==1.16.0"]\n\n'
        '[project.optional-dependencies]\nyaml = ["pyyaml==6.0.2"]\n\n'
        '[dependency-groups]\ntest = ["iniconfig==2.0.0"]\n'
    )
    (ws / "tests" / "test_deps.py").write_text(
        "from importlib.metadata import version\n\n"
        "def test_installed():\n"
        "    assert (version('six'), version('pyyaml'), version('iniconfig')) == ('1.16.0', '6.0.2', '2.0.0')\n"
    )
    for path in (ws / "pyproject.toml", ws / "tests" / "test_deps.py"):
        os.lchown(path, 1000, 1000)
    done = docker_run(ws, env={"ASYNC_TEST_EXTRAS": "yaml", "ASYNC_TEST_GROUPS": "test"})
    assert done.returncode == 0, done.stdout[-4000:]
    assert not list(ws.glob("*.egg-info")) and not (ws / "build").exists(), "the project was built in the workspace"


def test_a_project_that_needs_another_python_is_refused_before_anything_installs(tmp_path):
    ws = workspace(SUITES / "unit_only", tmp_path)
    (ws / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\nrequires-python = ">=3.13"\n')
    done = docker_run(ws)
    assert done.returncode == 2, done.stdout[-3000:]
    out = " ".join(done.stdout.split())
    assert "requires Python >=3.13" in out and "this image runs Python 3." in out, out[-2000:]
    assert "$ uv" not in done.stdout  # refused before any install step


def test_phase_lines_come_in_order_with_host_paths_and_colour_when_asked(tmp_path):
    """What the action groups (github/action.py FencedLog): the phase lines of a real run, in order,
    each phase ending with its time; the runner's paths as the host's; colour only when asked."""
    from async_test_harness import phases
    from async_test_harness.github.action import FencedLog

    ws = workspace(EXAMPLE.parent, tmp_path)
    done = docker_run(ws, "backend", "--separate-passes", env={"ASYNC_TEST_HOST_WORKSPACE": "/home/me/repo",
                                                                  "ASYNC_TEST_COLOR": "yes"})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    seen = [phases.phase_of(line) for line in done.stdout.splitlines()]
    assert [p for p in seen if p] == [phases.INSTALL, phases.SETTINGS, phases.UNIT, phases.POSTGRES,
                                      phases.INTEGRATION, phases.COVERAGE, phases.SUMMARY], done.stdout[-4000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    for ending in (r"dependencies installed in \d+\.\ds", r"unit pass passed in \d+\.\ds",
                   r"PostgreSQL \S+ started in the background in \d+\.\ds", r"integration pass passed in \d+\.\ds",
                   r"coverage reports written in \d+\.\ds"):
        assert re.search(ending, plain), ending
    assert "results     /home/me/repo/backend/.async-test" in plain
    assert "details in /home/me/repo/backend/.async-test/summary.md" in plain
    assert "\x1b[" in done.stdout, "ASYNC_TEST_COLOR=yes: the runner's lines and pytest's are coloured"
    summary = json.loads((ws / "backend" / ".async-test" / "summary.json").read_text())
    assert summary["project"]["results_dir"] == "/workspace/backend/.async-test", "summary.json is not translated"
    log = io.StringIO()
    fenced = FencedLog(log)
    fenced.start()
    fenced.feed(done.stdout.encode())
    fenced.close()
    assert [line for line in log.getvalue().splitlines() if line.startswith("::group::")] == [
        f"::group::{phases.GROUPS[p]}" for p in (phases.INSTALL, phases.SETTINGS, phases.UNIT, phases.POSTGRES,
                                                 phases.INTEGRATION, phases.COVERAGE)]


def test_a_plain_docker_run_names_results_from_the_mounted_folder_and_help_installs_nothing(tmp_path):
    """Issue 24 items 7 and 9: README's quick start passes no ASYNC_TEST_HOST_WORKSPACE, and the result
    line said /workspace/..., a folder the newcomer's machine does not have; `run --help` installed
    the dependencies before showing the help."""
    ws = workspace(EXAMPLE.parent, tmp_path)
    done = docker_run(ws, "backend", "--only", "unit")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "details in <mounted folder>/backend/.async-test/summary.md" in done.stdout, done.stdout[-3000:]
    assert not re.search(r"(details in|results\s+) /workspace", done.stdout), done.stdout[-3000:]
    shown = docker_run(ws, "run", "--help")
    assert shown.returncode == 0 and "usage: async-test run" in shown.stdout, shown.stdout[-2000:]
    assert "installing" not in shown.stdout, "help installs nothing"
