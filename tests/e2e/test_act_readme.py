"""README's workflow is docs/examples/basic.yml, and that file runs: under act, as users copy it (the
prebuilt image and this machine's CA added), on the example service whose layout README describes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import REPO, commit_all, copy_action, docker_shim

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
EXAMPLE = REPO / "docs" / "examples" / "basic.yml"


def readme_workflows() -> list:
    readme = (REPO / "README.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", readme, re.S)


def test_readmes_workflow_is_the_tested_example_file():
    assert readme_workflows()[0] == EXAMPLE.read_text(), "copy docs/examples/basic.yml into README.md"


@pytest.mark.slow
@pytest.mark.skipif(not IMAGE, reason="needs ASYNC_TEST_IMAGE and act")
def test_readmes_workflow_runs_green_on_the_example_service(tmp_path: Path):
    from test_act_matrix import ACT, ACTION, CA, DOCKER, stand_ins

    workflow = yaml.safe_load(EXAMPLE.read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true
    for step in workflow["jobs"]["tests"]["steps"]:
        if step.get("uses") == ACTION:
            step["with"].update({"image": "${{ env.IMAGE }}", "ca-bundle": CA})
            step["id"] = "at"
    workflow["jobs"]["tests"]["steps"].append({"if": "always()", "run": "echo \"OUTPUT tests=${{ steps.at.outputs."
                                               "tests }} exit-code=${{ steps.at.outputs.exit-code }}\""})
    action = copy_action(tmp_path / "action")
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "examples" / "service", repo, ignore=shutil.ignore_patterns("__pycache__", ".async-test"))
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "tests.yml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    commit_all(repo)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    cmd = [ACT, "push", "-P", "ubuntu-latest=-self-hosted", "-W", ".github/workflows/tests.yml",
           "--env", f"IMAGE={IMAGE}", "--env", f"ASYNC_TEST_ARTIFACTS={artifacts}", *stand_ins(tmp_path, action)]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900,
                          env=docker_shim(tmp_path / "bin", DOCKER))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "OUTPUT tests=13 exit-code=0" in log, log[-6000:]
