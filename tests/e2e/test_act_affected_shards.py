"""select: affected with a sharded matrix (docs/affected.md "Shards"; docs/action.md "Sharding across a
matrix"), under act: a push to main through 2 shard jobs and the report job stores one test map of every
test with the baseline (combine merges the shards' maps); a pull request changing one function runs only
the affected test across the shards (the shard jobs restore the base's map), and the report job says
"ran 1 of 4", carries coverage forward, and lists no left-out test as removed.

A user's trial found the push stored no map (combine dropped the shards' maps, silently) and the shard
jobs never restored one, so every pull request ran every test. The stand-ins are those of
test_act_matrix.py (artifacts, checkout) and test_act_baseline.py (cache, GitHub API).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from helpers import REPO, copy_action, docker_shim, git, write_files

sys.path.insert(0, str(REPO / "tests" / "integration"))
from test_act import ACT, DOCKER, IMAGE
from test_act_affected import CALC, FILES
from test_act_baseline import head
from test_act_matrix import jobs_lines, stand_ins
from test_github_comment import TOKEN, FakeGitHub

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IMAGE or not Path(ACT).exists(), reason="needs ASYNC_TEST_IMAGE and act")]

WORKFLOW = """name: tests
on: [push, pull_request]
permissions:
  contents: read
jobs:
  tests:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        shard: [1, 2]
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: org/async-test-action@v1
        with:
          working-directory: project
          image: ${{ env.IMAGE }}
          ca-bundle: /etc/ssl/certs/ca-certificates.crt
          select: affected
          shard: ${{ matrix.shard }}/2
      - name: the tests that ran
        if: always()
        shell: python3 {0}
        run: |
          import xml.etree.ElementTree as ET
          from pathlib import Path
          for path in sorted(Path("project/.async-test").glob("junit-*.xml")):
              for case in ET.parse(path).getroot().iter("testcase"):
                  if case.find("skipped") is None:
                      print(f"RAN {case.get('classname')}::{case.get('name')}")
  report:
    needs: tests
    if: always()
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: org/async-test-action@v1
        id: report
        with:
          working-directory: project
          image: ${{ env.IMAGE }}
          ca-bundle: /etc/ssl/certs/ca-certificates.crt
          mode: report
          select: affected
          comment: "true"
      - name: outputs
        if: always()
        run: |
          selected="${{ steps.report.outputs.affected-selected }}"
          collected="${{ steps.report.outputs.affected-collected }}"
          tests="${{ steps.report.outputs.tests }}"
          echo "OUTPUT tests=$tests affected-selected=$selected affected-collected=$collected"
"""


def run_matrix(tmp_path: Path, repo: Path, event_name: str, event: Dict[str, object],
               cache: Path) -> Tuple[int, str, Dict[int, str]]:
    """One act run of the matrix with the artifact, cache and GitHub API stand-ins."""
    path = tmp_path / f"{event_name}.json"
    path.write_text(json.dumps(event))
    artifacts = Path(tempfile.mkdtemp(dir=tmp_path))  # one workflow run's artifacts
    github = FakeGitHub()
    try:
        cmd = [ACT, event_name, "-P", "ubuntu-latest=-self-hosted", "-W", ".github/workflows/matrix.yml",
               "-e", str(path), "--concurrent-jobs", "1", "--env", f"IMAGE={IMAGE}",
               "--env", f"ASYNC_TEST_ARTIFACTS={artifacts}", "--env", f"GITHUB_API_URL={github.url}",
               "--env", f"ASYNC_TEST_CACHE={cache}", "-s", f"GITHUB_TOKEN={TOKEN}",
               *stand_ins(Path(tempfile.mkdtemp(dir=tmp_path)), tmp_path / "action")]
        done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1500,
                              env=docker_shim(tmp_path / "bin", DOCKER))
        log = done.stdout + done.stderr
        with open(tmp_path / "act.log", "a") as kept:
            kept.write(log)
        return done.returncode, log, github.ours()
    finally:
        github.close()


def ran(lines: List[str]) -> Set[str]:
    return set(re.findall(r"RAN (\S+)", "\n".join(lines)))


def a_repository(tmp_path: Path) -> Tuple[Path, Path, str]:
    copy_action(tmp_path / "action")
    repo = tmp_path / "repo"
    write_files(repo / "project", FILES)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "matrix.yml").write_text(WORKFLOW)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    cache = tmp_path / "cache"
    cache.mkdir()
    return repo, cache, head(repo)


PUSH: Dict[str, object] = {"ref": "refs/heads/main", "repository": {"default_branch": "main", "full_name": "org/repo"}}


def test_a_sharded_matrix_records_the_map_on_a_push_and_selects_on_a_pull_request(tmp_path: Path) -> None:
    repo, cache, main_sha = a_repository(tmp_path)
    code, log, _ = run_matrix(tmp_path, repo, "push", PUSH, cache)
    assert code == 0, log[-6000:]
    jobs = jobs_lines(log)
    assert ran(jobs["tests-1"]) | ran(jobs["tests-2"]) == {
        "tests.unit.test_calc::test_add", "tests.unit.test_calc::test_sub", "tests.unit.test_text::test_shout",
        "tests.integration.test_db::test_select"}
    saved = cache / f"async-test-baseline-project-main-{main_sha}"
    assert (saved / "baseline.json").is_file(), log[-6000:]
    stored = json.loads((saved / "testmap.json").read_text())  # one map of the shards' tests
    assert len(stored["tests"]) == 4 and stored["base_commit"] == main_sha, stored["tests"]

    write_files(repo / "project", {"app/calc.py": CALC.replace("return a - b", "return -(b - a)")})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sub, differently")
    pull = {"pull_request": {"number": 7, "base": {"sha": main_sha, "ref": "main"}, "head": {"sha": head(repo)}},
            "repository": {"default_branch": "main", "full_name": "org/repo"}}
    code, log, comments = run_matrix(tmp_path, repo, "pull_request", pull, cache)
    assert code == 0, log[-6000:]
    jobs = jobs_lines(log)
    assert ran(jobs["tests-1"]) | ran(jobs["tests-2"]) == {"tests.unit.test_calc::test_sub"}, log[-6000:]
    assert "OUTPUT tests=1 affected-selected=1 affected-collected=4" in log, log[-6000:]
    body = next(iter(comments.values()))
    assert "ran 1 of 4 tests (affected by 1 changed file)" in body and "carried forward" in body, body
    assert "0 removed (3 left out by the affected selection)" in body, body
