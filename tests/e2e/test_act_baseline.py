"""The comparison with the base in the action, under act (issue 25): two pushes to main store their
baselines in the cache (the second continuing the first's flaky history); a pull request with a
coverage drop, an N+1 loop, a new failure, a failure also failing on main and a test that fails once
then passes (flaky; flaky on both pushes too: known-flaky) shows each, labelled, in the job summary,
the comment and the outputs, and with ``fail-on: new`` only the new failure fails the job; a pull
request without a baseline still reports, in one line.

Everything is real but GitHub's cache and API: the cache is the stand-in in tests/e2e/act/cache/ (a
folder shared by the runs), the API the stand-in of test_github_comment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Tuple

import pytest
from baseline_project import CHANGE, FLAKY_TEST, MAIN, baseline_project

from helpers import REPO, copy_action, docker_shim, git

sys.path.insert(0, str(REPO / "tests" / "integration"))
from test_act import ACT, DOCKER, IMAGE
from test_act_shapes import offline_actions
from test_github_comment import TOKEN, FakeGitHub

pytestmark = pytest.mark.skipif(not IMAGE or not Path(ACT).exists(), reason="needs ASYNC_TEST_IMAGE and act")

def head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def run_act(repo: Path, event_name: str, event: Dict[str, object], cache: Path,
            workflow: str = "baseline.yml") -> Tuple[int, str, Dict[int, str]]:
    """One act run of ``workflow`` (in the repo's .github/workflows) with the cache stand-in at ``cache``
    and the GitHub API stand-in; returns act's exit code, its log and our comments."""
    path = repo.parent / f"{event_name}.json"
    path.write_text(json.dumps(event))
    github = FakeGitHub()
    try:
        cmd = [ACT, event_name, "-P", "ubuntu-latest=-self-hosted", "-W", f".github/workflows/{workflow}",
               "-e", str(path), "--env", f"SRC={repo}", "--env", f"IMAGE={IMAGE}",
               "--env", f"GITHUB_API_URL={github.url}", "--env", f"ASYNC_TEST_CACHE={cache}",
               "-s", f"GITHUB_TOKEN={TOKEN}", *offline_actions(Path(tempfile.mkdtemp(dir=repo.parent)))]
        done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900,
                              env=docker_shim(repo.parent / "bin", DOCKER))
        log = done.stdout + done.stderr
        with open(repo.parent / "act.log", "a") as kept:  # for a failure's reader: every run's whole log
            kept.write(log)
        return done.returncode, log, github.ours()
    finally:
        github.close()


def summary_of(log: str) -> str:
    """The job summary, as act prints it: after "Summary - ", up to act's next log line."""
    text = log.rsplit("Summary - ", 1)[1]
    return "\n".join(text.split("\n[", 1)[0].splitlines())


def test_main_stores_the_baseline_and_a_pull_request_is_compared_with_it(tmp_path):
    repo = copy_action(tmp_path / "repo")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "baseline.yml").write_text((REPO / "tests/e2e/act/baseline.yml").read_text())
    project = repo / "project"
    baseline_project(project, MAIN, loop=2, flaky=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    cache = tmp_path / "cache"
    cache.mkdir()
    first_sha = head(repo)
    push = {"ref": "refs/heads/main", "repository": {"default_branch": "main", "full_name": "org/repo"}}
    code, log, _ = run_act(repo, "push", push, cache)
    assert code != 0, "test_broken_on_main fails the push: fail-on new has no baseline to tell it is old"
    assert "no comparison: no baseline of branch main in the cache" in log, log[-6000:]
    saved = [p.name for p in cache.iterdir() if p.is_dir()]
    assert saved == [f"async-test-baseline-project-main-{first_sha}"], log[-6000:]
    assert (cache / saved[0] / "baseline.json").is_file()

    # A second push: compared with the first's baseline, it stores its own, continuing the flaky history.
    (project / "app" / "__init__.py").write_text('"""The app."""\n')
    git(repo, "commit", "-qam", "main, again")
    main_sha = head(repo)
    code, log, _ = run_act(repo, "push", push, cache)
    assert code == 0 and "PASSING DESPITE 1 FAILING TEST(S)" in log, log[-6000:]
    history = json.loads((cache / f"async-test-baseline-project-main-{main_sha}" / "baseline.json").read_text())
    assert [(r["commit"], r["flaky"]) for r in history["flaky_history"]] == [
        (main_sha, [FLAKY_TEST]), (first_sha, [FLAKY_TEST])], log[-6000:]

    baseline_project(project, CHANGE, loop=20, flaky=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a change")
    pull = {"pull_request": {"number": 7, "base": {"sha": main_sha, "ref": "main"}, "head": {"sha": head(repo)}},
            "repository": {"default_branch": "main", "full_name": "org/repo"}}
    code, log, comments = run_act(repo, "pull_request", pull, cache)
    assert code != 0, "a new failure fails the job under fail-on: new"
    assert "OUTPUT coverage-change=-" in log, log[-6000:]
    assert "new-failures=1 query-regressions=1 flaky=1 known-flaky=1" in log, log[-6000:]
    assert "(unit; new in this change)" in log and "(unit; also failing on the base)" in log
    assert "title=async-test%3A query regression::tests/integration/test_db.py::test_list_orders executed 20" in log
    step = summary_of(log)
    assert "### Compared with the base" in step and "| 2 → 20 |" in step, step[-4000:]
    assert "🆕 new: <code>tests/unit/test\\_calc.py::test\\_broken\\_here</code>" in step
    assert "♻️ also failing on the base: <code>tests/unit/test\\_calc.py::test\\_broken\\_on\\_main</code>" in step
    assert "removed: <code>tests/unit/test\\_calc.py::test\\_sub</code>" in step
    assert "**Flaky (1)**" in step and "**Known flaky (1)**: flaky in 2 or more of the base's last 10 runs" in step
    assert "flaky: <code>tests/unit/test\\_flaky.py::test\\_fails\\_once\\_then\\_passes" in step
    body = next(iter(comments.values()))
    assert "### Compared with the base" in body and "🆕 new" in body and "| 2 → 20 |" in body
    assert "**Flaky (1)**" in body and "**Known flaky (1)**" in body
    assert len(list(p for p in cache.iterdir() if p.is_dir())) == 2, "a pull request saves no baseline"

    # The same pull request with the old failure only: fail-on new keeps the job green, loudly.
    baseline_project(project, MAIN, loop=2)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "back to main's tests")
    pull["pull_request"]["head"] = {"sha": head(repo)}  # type: ignore[index]
    code, log, _ = run_act(repo, "pull_request", pull, cache)
    assert code == 0, log[-6000:]
    assert "PASSING DESPITE 1 FAILING TEST(S)" in log and "new-failures=0" in log

    # No baseline (another cache): the report still comes, with one line saying why there is no comparison.
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    code, log, comments = run_act(repo, "pull_request", pull, empty)
    assert "no comparison: no baseline of branch main in the cache" in summary_of(log)
    assert "OUTPUT coverage-change= new-failures= query-regressions= flaky=0 known-flaky=" in log
    assert "| unit | failed |" in summary_of(log)
