"""The runner's credentials stay out of the test container (issue 12, item 1).

actions/checkout's default (persist-credentials: true) writes the job's token into .git/config
(``http.https://github.com/.extraheader``), and the whole workspace is mounted into the container.
The container must see every git directory read-only, with configs that hold no extraheader,
credential helper, insteadOf rewrite, include or URL userinfo; and the runner's later git commands
(the report's diff, with the token in its environment) must not run what the tests planted.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from async_test_harness.github.action import combine_step, docker_command, run_tests
from async_test_harness.github.matrix import SHARDS_DIR, combine_command
from helpers import REPO

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
EXTRAHEADER = base64.b64encode(b"x-access-token:ghs_EXTRAHEADERtoken0123456789").decode()

# What actions/checkout leaves (v4: the extraheader; v6: an includeIf of a file in RUNNER_TEMP), and
# what other setups add: credential helpers, insteadOf rewrites and remote URLs with a token in them.
CHECKOUT_CONFIG = f"""\
[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
\tlogallrefupdates = true
[remote "origin"]
\turl = https://x-access-token:ghs_URLtoken0123456789@github.com/org/repo
\tfetch = +refs/heads/*:refs/remotes/origin/*
\tpushurl = https://ghs_PUSHtoken0123456789@github.com/org/repo
[gc]
\tauto = 0
[http "https://github.com/"]
\textraheader = AUTHORIZATION: basic {EXTRAHEADER}
[Http]
\tExtraHeader = "AUTHORIZATION: bearer ghs_CASEtoken0123456789"
[credential]
\thelper = store --file=/home/runner/.git-credentials
[credential "https://github.com"]
\tusername = x-access-token
\thelper = "!f() {{ echo password=ghs_HELPERtoken0123456789; }}; f"
[url "https://x-access-token:ghs_INSTEADOFtoken0123456789@github.com/"]
\tinsteadOf = https://github.com/
[includeIf "gitdir:/home/runner/work/repo/repo/.git"]
\tpath = /home/runner/work/_temp/git-credentials-0123.config
[branch "main"]
\tremote = origin
\tmerge = refs/heads/main
# a comment: ghs_COMMENTtoken0123456789
[lfs]
\taccesstoken = ghs_LFStoken0123456789
"""
SECRETS = ("ghs_", EXTRAHEADER, "x-access-token", "git-credentials")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=n", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def checkout(root: Path) -> Path:
    """A workspace as actions/checkout leaves it: a repository, the token in its config, and a submodule's."""
    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=root)
    (root / "app.py").write_text("x = 1\n")
    git("add", "-A", cwd=root)
    git("commit", "-qm", "base", cwd=root)
    (root / ".git" / "config").write_text(CHECKOUT_CONFIG)
    submodule = root / ".git" / "modules" / "libs" / "dep"
    submodule.mkdir(parents=True)
    (submodule / "HEAD").write_text("ref: refs/heads/main\n")
    (submodule / "config").write_text(CHECKOUT_CONFIG)
    return root


def mounts(cmd: list[str]) -> dict[str, tuple[str, str]]:
    """-v options as {container path: (host path, mode)}."""
    found = {}
    for flag, value in zip(cmd, cmd[1:]):
        if flag == "-v":
            source, target, *mode = value.split(":")
            found[target] = (source, mode[0] if mode else "rw")
    return found


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached the container:\n{text}"
    for word in ("extraheader", "credential", "insteadof", "includeif", "[http", "[url", "accesstoken"):
        assert word not in text.lower(), f"{word!r} reached the container:\n{text}"


def test_the_container_gets_the_git_directory_read_only_and_configs_without_credentials(tmp_path):
    ws = checkout(tmp_path / "ws")
    cmd = docker_command({"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path)}, "img:1", "/cache-dir")
    found = mounts(cmd)
    assert found["/workspace"] == (str(ws), "rw")
    assert found["/workspace/.git"] == (str(ws / ".git"), "ro"), "the tests cannot change the runner's git directory"
    for inside in ("/workspace/.git/config", "/workspace/.git/modules/libs/dep/config"):
        source, mode = found[inside]
        assert mode == "ro" and Path(source).parent.parent == tmp_path, "a copy in RUNNER_TEMP, read-only"
        scrubbed = Path(source).read_text()
        assert_clean(scrubbed)
        # what the tests still need is there, and git reads the copy
        listed = git("config", "--file", source, "--list", cwd=tmp_path)
        assert "core.repositoryformatversion=0" in listed and "branch.main.merge=refs/heads/main" in listed
        assert "remote.origin.url=https://github.com/org/repo" in listed
        assert "remote.origin.fetch=+refs/heads/*:refs/remotes/origin/*" in listed
    assert cmd.index("img:1") > max(i for i, arg in enumerate(cmd) if arg == "-v"), "docker options, before the image"
    assert "ghs_" in (ws / ".git" / "config").read_text(), "the runner's own checkout is left as it was"


def test_nested_checkouts_are_covered_and_links_out_of_the_workspace_are_not_followed(tmp_path):
    ws = tmp_path / "ws"
    checkout(ws / "tools" / "other")  # actions/checkout with path: tools/other
    outside = checkout(tmp_path / "outside")
    (ws / "evil").symlink_to(outside)  # a link the pull request could add
    (ws / "deep" / "evil").mkdir(parents=True)
    (ws / "deep" / "evil" / "x").symlink_to(outside)
    cmd = docker_command({"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path)}, "img:1", "/c")
    found = mounts(cmd)
    assert found["/workspace/tools/other/.git"][1] == "ro"
    assert_clean(Path(found["/workspace/tools/other/.git/config"][0]).read_text())
    assert not [t for t, (s, _) in found.items() if "evil" in t or str(outside) in s], found


def test_an_unreadable_config_gives_a_minimal_one(tmp_path):
    ws = checkout(tmp_path / "ws")
    (ws / ".git" / "config").write_text("[http \"https://github.com/\"\n\textraheader = ghs_BROKENtoken\n")
    found = mounts(docker_command({"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path)}, "img:1", "/c"))
    assert Path(found["/workspace/.git/config"][0]).read_text() == "[core]\n\trepositoryformatversion = 0\n"


def test_the_test_step_removes_the_copies_after_the_container(tmp_path, monkeypatch):
    ws = checkout(tmp_path / "ws")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    # The stand-in docker copies what the container would see at /workspace/.git/config.
    fake.write_text(f"#!{sys.executable}\nimport sys, shutil\nfor arg in sys.argv:\n"
                    "    if arg.endswith(':/workspace/.git/config:ro'):\n"
                    f"        shutil.copy(arg.split(':')[0], {str(tmp_path / 'seen')!r})\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(runner_temp), "ASYNC_TEST_IMAGE": "img:1",
           "GITHUB_OUTPUT": str(tmp_path / "out")}
    import io

    assert run_tests(env, out=io.StringIO()) == 0
    assert_clean((tmp_path / "seen").read_text())
    assert list(runner_temp.iterdir()) == [], "the scrubbed copies are removed"


@pytest.mark.skipif(not IMAGE or not DOCKER, reason="set ASYNC_TEST_IMAGE (any image with /bin/sh will do)")
def test_in_a_real_container_root_cannot_read_or_change_the_checkouts_credentials(tmp_path):
    """The mounts docker_command makes, with a real engine: root in the container reads no token
    anywhere under .git and can change nothing there (a read-only mount binds root too)."""
    ws = checkout(tmp_path / "ws")
    before = {p: p.read_bytes() for p in (ws / ".git").rglob("*") if p.is_file()}
    cmd = docker_command({"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path)}, IMAGE, str(tmp_path / "c"))
    options = cmd[2:cmd.index(IMAGE)]
    script = ("cat /workspace/.git/config > /workspace/seen-config; "
              "grep -rl -e ghs_ -e x-access-token -e extraheader /workspace/.git >> /workspace/found || true; "
              "for f in .git/config .git/modules/libs/dep/config .git/commondir .git/hooks/post-checkout; do "
              "  (echo '[core] fsmonitor = touch PWNED' >> /workspace/$f) 2>/dev/null"
              "  && echo wrote $f >> /workspace/found;"
              "done; umount /workspace/.git/config 2>/dev/null && echo unmounted >> /workspace/found; "
              "git -C /workspace log --oneline > /workspace/seen-log 2>&1 || true; true")
    done = subprocess.run([DOCKER, "run", *options, "--user", "0:0", "--entrypoint", "/bin/sh", IMAGE, "-c", script],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_clean((ws / "seen-config").read_text())
    assert "repositoryformatversion" in (ws / "seen-config").read_text()
    assert not (ws / "found").exists() or (ws / "found").read_text() == "", (ws / "found").read_text()
    assert before == {p: p.read_bytes() for p in (ws / ".git").rglob("*") if p.is_file()}, "the runner's .git changed"


PROBE = """
import os
from pathlib import Path

MARKERS = (b"ghs_", b"x-access-token", b"extraheader", b"git-credentials")


def test_no_credentials_anywhere_under_git():
    found = [str(p) for p in Path("/workspace/.git").rglob("*")
             if p.is_file() and any(m in p.read_bytes() for m in MARKERS)]
    assert not found, found
    assert not [k for k in os.environ if k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_"))]


def test_the_git_directory_is_read_only():
    for name in ("config", "commondir", "hooks/post-checkout", "modules/libs/dep/config"):
        try:
            with open(f"/workspace/.git/{name}", "a") as handle:
                handle.write("[core]\\n\\tfsmonitor = touch /tmp/pwned\\n")
        except OSError:
            continue
        raise AssertionError(f"the tests wrote .git/{name}")
"""


@pytest.mark.slow
@pytest.mark.skipif(not IMAGE or not DOCKER, reason="set ASYNC_TEST_IMAGE to an image built by scripts/build-image.sh")
def test_the_projects_tests_see_no_credentials_through_the_image(tmp_path):
    """The whole test step: docker_command as the action runs it, the image's entrypoint, a project
    whose tests look for the token under .git and try to write there (as the workspace's owner)."""
    ws = checkout(tmp_path / "ws")
    (ws / "svc" / "tests" / "unit").mkdir(parents=True)
    (ws / "svc" / "pytest.ini").write_text("[pytest]\n")
    (ws / "svc" / "tests" / "unit" / "test_probe.py").write_text(PROBE)
    for path in [ws, *ws.rglob("*")]:
        os.lchown(path, 1000, 1000)
    tmp_path.chmod(0o755)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    env = {"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path), "INPUT_WORKING_DIRECTORY": "svc"}
    if os.path.exists("/etc/ssl/certs/ca-certificates.crt"):  # a TLS-inspecting proxy on this machine
        env["INPUT_CA_BUNDLE"] = "/etc/ssl/certs/ca-certificates.crt"
    cmd = docker_command(env, IMAGE, str(cache))
    done = subprocess.run([DOCKER, *cmd[1:]], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
    assert "ghs_" in (ws / ".git" / "config").read_text(), "the runner's checkout is unchanged"


def report_workspace(root: Path) -> Path:
    """A report job's workspace: the checkout (token in .git/config) and one downloaded shard folder."""
    ws = checkout(root)
    (ws / SHARDS_DIR / "async-test-shard-1-of-1").mkdir(parents=True)
    return ws


def test_the_report_jobs_combine_container_gets_the_test_jobs_view_of_git(tmp_path):
    """mode: report (issue 23, item 3): the combine container's mounts are the test job's: every .git
    read-only, each config a scrubbed copy; before, it got the workspace with the token in .git/config."""
    ws = report_workspace(tmp_path / "ws")
    env = {"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path)}
    cmd = combine_command(env, "img:1", ".async-test")
    found = mounts(cmd)
    assert found["/workspace"] == (str(ws), "rw")
    assert found["/workspace/.git"] == (str(ws / ".git"), "ro")
    for inside in ("/workspace/.git/config", "/workspace/.git/modules/libs/dep/config"):
        source, mode = found[inside]
        assert mode == "ro"
        assert_clean(Path(source).read_text())
    assert cmd.index("img:1") > max(i for i, arg in enumerate(cmd) if arg == "-v"), "docker options, before the image"
    test_job = mounts(docker_command(env, "img:1", "/c"))
    git_view = {t for t in found if t.startswith("/workspace/.git")}
    assert git_view == {t for t in test_job if t.startswith("/workspace/.git")}


def test_the_combine_step_removes_the_copies_after_the_container(tmp_path, monkeypatch):
    ws = report_workspace(tmp_path / "ws")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport sys, shutil\nfor arg in sys.argv:\n"
                    "    if arg.endswith(':/workspace/.git/config:ro'):\n"
                    f"        shutil.copy(arg.split(':')[0], {str(tmp_path / 'seen')!r})\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    env = {"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(runner_temp), "ASYNC_TEST_IMAGE": "img:1",
           "GITHUB_OUTPUT": str(tmp_path / "out")}
    import io

    assert combine_step(env, out=io.StringIO()) == 0
    assert_clean((tmp_path / "seen").read_text())
    assert list(runner_temp.iterdir()) == [], "the scrubbed copies are removed"


@pytest.mark.skipif(not IMAGE or not DOCKER, reason="set ASYNC_TEST_IMAGE (any image with /bin/sh will do)")
def test_in_a_real_container_the_report_jobs_combine_cannot_read_the_token(tmp_path):
    """The combine container's mounts with a real engine: nothing under /workspace/.git holds the token,
    and nothing there can be changed (as root in the container, the strongest case)."""
    ws = report_workspace(tmp_path / "ws")
    before = {p: p.read_bytes() for p in (ws / ".git").rglob("*") if p.is_file()}
    cmd = combine_command({"GITHUB_WORKSPACE": str(ws), "RUNNER_TEMP": str(tmp_path)}, IMAGE, ".async-test")
    options = cmd[2:cmd.index(IMAGE)]
    script = ("cat /workspace/.git/config > /workspace/seen-config; "
              "grep -rl -e ghs_ -e x-access-token -e extraheader /workspace/.git >> /workspace/found || true; "
              "(echo '[core] fsmonitor = touch PWNED' >> /workspace/.git/config) 2>/dev/null "
              "&& echo wrote >> /workspace/found; true")
    done = subprocess.run([DOCKER, "run", *options, "--user", "0:0", "--entrypoint", "/bin/sh", IMAGE, "-c", script],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_clean((ws / "seen-config").read_text())
    assert not (ws / "found").exists() or (ws / "found").read_text() == "", (ws / "found").read_text()
    assert before == {p: p.read_bytes() for p in (ws / ".git").rglob("*") if p.is_file()}, "the runner's .git changed"


def test_the_reports_git_diff_runs_nothing_the_repository_configures(tmp_path):
    """The report runs git on the runner with the token in its environment: external diff tools,
    textconv filters and fsmonitor hooks configured in the repository are not run."""
    from async_test_harness.github.diffcov import changed_lines

    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "a.py").write_text("a = 1\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    (repo / "a.py").write_text("a = 1\nb = 2\n")
    (repo / ".gitattributes").write_text("*.py diff=evil\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "head", cwd=repo)
    pwned = tmp_path / "PWNED"
    for key, value in (("diff.external", f"sh -c 'touch {pwned}-external'"),
                       ("diff.evil.textconv", f"sh -c 'touch {pwned}-textconv; cat \"$0\"'"),
                       ("diff.evil.command", f"sh -c 'touch {pwned}-command'"),
                       ("core.fsmonitor", f"sh -c 'touch {pwned}-fsmonitor'")):
        git("config", key, value, cwd=repo)
    assert changed_lines(repo, base) == {"a.py": {2}, ".gitattributes": {1}}
    assert not list(tmp_path.glob("PWNED*")), [p.name for p in tmp_path.glob("PWNED*")]


def test_readme_workflow_example_does_not_persist_credentials():
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"## In a GitHub workflow\n\n(?:[^\n]*\n\n)?```yaml\n(.*?)```", readme, re.S)
    assert snippet, "README's workflow example"
    step = re.search(r"- uses: actions/checkout@.*?(?=\n      - uses:)", snippet.group(1), re.S)
    assert step and re.search(r"\n\s+persist-credentials: false", step.group(0)), step and step.group(0)
