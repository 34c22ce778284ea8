"""The action is ready to publish: licence, one version everywhere, pinned actions, the release
workflow valid, and the published image used before a local build."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from async_test_harness import __version__
from async_test_harness.github.action import build_image

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v(\d+\.\d+\.\d+)\s*$")


def release(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "release.py"), *args], capture_output=True,
                          text=True)


def test_every_third_party_action_is_pinned_to_a_sha_with_its_exact_version():
    for path in [REPO / "action.yml", *WORKFLOWS]:
        for line in path.read_text().splitlines():
            if re.search(r"^\s*(-\s*)?uses:", line) and "uses: ./" not in line:
                assert PINNED.search(line), f"{path.name}: {line.strip()} (want owner/repo@<40 hex> # vX.Y.Z)"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_pass_actionlint_and_the_schema(path):
    actionlint = shutil.which("actionlint") or os.path.join(os.path.dirname(sys.executable), "actionlint")
    done = subprocess.run([actionlint, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dependabot_watches_the_pinned_actions_and_the_harness():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.dependabot",
                           str(REPO / ".github" / "dependabot.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    updates = {u["package-ecosystem"]: u["directory"] for u in yaml.safe_load(
        (REPO / ".github" / "dependabot.yml").read_text())["updates"]}
    assert updates == {"github-actions": "/", "pip": "/harness"}


def test_the_licence_is_mit_as_the_package_says():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert 'license = { text = "MIT" }' in (REPO / "harness" / "pyproject.toml").read_text()


def test_the_actions_author_is_the_owner_users_reference():
    author = yaml.safe_load((REPO / "action.yml").read_text())["author"]
    owners = set(re.findall(r"uses: ([\w-]+)/async-test-action@", (REPO / "README.md").read_text()))
    assert owners == {author}


def test_a_release_tag_must_match_every_stated_version_and_have_notes():
    done = release("check", f"v{__version__}")
    assert done.returncode == 0, done.stderr
    assert release("notes", f"v{__version__}").stdout.strip()
    wrong = release("check", "v9.9.9")
    assert wrong.returncode == 1
    for where in ("harness/pyproject.toml", "Dockerfile", "CHANGELOG.md", "__init__.py"):
        assert where in wrong.stderr, wrong.stderr
    assert "is not vX.Y.Z" in release("check", "1.0").stderr


def test_the_published_images_cover_every_supported_python_and_postgres():
    lines = release("images", "Org/Async-Test-Action", "v0.1.0").stdout.splitlines()
    assert len(lines) == 12 and lines[0].split()[0] == "ghcr.io/org/async-test-action:0.1.0-py3.10-pg15"
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    matrix = workflow["jobs"]["images"]["strategy"]["matrix"]
    assert {(p, g) for p in matrix["python"] for g in matrix["postgres"]} == {
        (line.split()[1], line.split()[2]) for line in lines}


def docker_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pull_ok: bool) -> Path:
    """A docker that records its commands; `image inspect` finds nothing, `pull` succeeds or not."""
    log = tmp_path / "docker.log"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    pull = "exit 0" if pull_ok else 'echo "denied: not found" >&2; exit 1'
    fake.write_text("#!/bin/sh\n"
                    f"echo \"$*\" >> {log}\n"
                    "case \"$1 $2\" in\n"
                    "  'image inspect') exit 1 ;;\n"
                    f"  pull*) {pull} ;;\n"
                    "esac\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return log


@pytest.mark.parametrize("pull_ok", [True, False])
def test_the_action_uses_the_published_image_of_its_version_before_building(tmp_path, monkeypatch, pull_ok):
    log = docker_stub(tmp_path, monkeypatch, pull_ok)
    project = tmp_path / "ws"
    project.mkdir()
    env = {"GITHUB_ACTION_PATH": str(REPO), "GITHUB_WORKSPACE": str(project), "GITHUB_OUTPUT": str(tmp_path / "o"),
           "ASYNC_TEST_ACTION_REPOSITORY": "Org/async-test-action", "INPUT_POSTGRES_VERSION": "17"}
    out = io.StringIO()
    assert build_image(env, out) == 0
    commands = log.read_text().splitlines()
    published = f"ghcr.io/org/async-test-action:{__version__}-py3.11-pg17"
    assert f"pull --quiet {published}" in commands
    assert any(c.startswith("build ") for c in commands) is not pull_ok
    assert ("no published image to use (denied: not found); building it here" in out.getvalue()) is not pull_ok


def test_a_local_or_custom_action_never_pulls(tmp_path, monkeypatch):
    log = docker_stub(tmp_path, monkeypatch, pull_ok=True)
    for extra in ({"ASYNC_TEST_ACTION_REPOSITORY": ""}, {"ASYNC_TEST_ACTION_REPOSITORY": "org/a",
                                                         "INPUT_BUILD_TOOLS": "true"}):
        env = {"GITHUB_ACTION_PATH": str(REPO), "GITHUB_WORKSPACE": str(tmp_path), **extra}
        assert build_image(env, io.StringIO()) == 0
    assert not [c for c in log.read_text().splitlines() if c.startswith("pull")]


def test_the_release_publishes_the_pythons_the_harness_supports():
    import importlib.util

    from async_test_harness.versions import SUPPORTED_PYTHONS

    spec = importlib.util.spec_from_file_location("release_script", REPO / "scripts" / "release.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.PYTHONS == SUPPORTED_PYTHONS
