"""A matrix of three shard jobs and one report job under act (issue 16 items 3 and 4): the workflow of
docs/examples/matrix.yml, as users copy it, on a generated suite with one deliberate failure.

Everything is real but GitHub's artifact storage: the upload and download actions are stand-ins
(tests/e2e/act/artifacts/) that copy to and from a folder the jobs share; the action itself is this
repository (``org/async-test-action@v1`` mapped to it), using the prebuilt image (ASYNC_TEST_IMAGE).
The proof is a comparison with an unsharded run of the same project in the same image: every test
ran in exactly one shard, and the report job's combined results have the same counts, failures and
covered lines. The report job writes the one job summary and the one annotation; the shard jobs none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from async_test_harness.github.badge import colour
from helpers import REPO, commit_all, copy_action, docker_shim

sys.path.insert(0, str(REPO / "tests" / "integration"))
from test_shards_and_combine import assert_each_test_once, case_ids, comparable, project_at

IMAGE = os.environ.get("ASYNC_TEST_IMAGE")
DOCKER = shutil.which("docker", path="/usr/bin") or "/usr/bin/docker"
ACT = shutil.which("act") or str(Path(sys.executable).parent / "act")
ACTION = "org/async-test-action@v1"
CA = "/etc/ssl/certs/ca-certificates.crt"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IMAGE or not Path(ACT).exists(), reason="needs ASYNC_TEST_IMAGE and act")]

# Appended to the report job: what it combined and its outputs, for the comparison.
KEEP_STEP = {"name": "keep the combined results", "if": "always()", "run": (
    'cp -a backend/.async-test "$KEEP/combined"\n'
    'echo "OUTPUT tests=${{ steps.report.outputs.tests }} failures=${{ steps.report.outputs.failures }}'
    ' exit-code=${{ steps.report.outputs.exit-code }}"\n'
    'echo "BADGE ${{ steps.report.outputs.badge-color }} ${{ steps.report.outputs.badge-message }}'
    ' ${{ steps.report.outputs.coverage-badge }} url=${{ steps.report.outputs.results-artifact-url }}"')}


# Before the report job's action: the token as actions/checkout's default (persist-credentials: true)
# leaves it, so the combine container's view of .git can be checked (issue 23, item 3).
TOKEN = "ghs_REPORTJOBtoken0123456789"
PERSIST_STEP = {"name": "persist a token as actions/checkout does",
                "run": f'git config http.https://github.com/.extraheader "AUTHORIZATION: basic {TOKEN}"'}


def the_workflow() -> str:
    """docs/examples/matrix.yml with the prebuilt image and a step that keeps the report's folder."""
    workflow = yaml.safe_load((REPO / "docs" / "examples" / "matrix.yml").read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if step.get("uses") == ACTION:
                step["with"]["image"] = "${{ env.IMAGE }}"
                step["with"]["ca-bundle"] = CA  # this machine's TLS-inspecting proxy
        if name == "report":
            at = next(i for i, step in enumerate(job["steps"]) if step.get("uses") == ACTION)
            job["steps"].insert(at, PERSIST_STEP)
            job["steps"].append(KEEP_STEP)
    return yaml.safe_dump(workflow, sort_keys=False)


def probing_docker(folder: Path, seen: Path) -> Dict[str, str]:
    """act's environment with a docker that, for the report job's ``docker run ... IMAGE combine``, first
    runs a shell in a container with the very same options and keeps what it finds under /workspace/.git:
    the combine container's view, as the test job's is checked in tests/hostile/test_token.py."""
    env = docker_shim(folder, DOCKER)
    (folder / "docker").unlink()
    (folder / "docker").write_text(
        f"#!{sys.executable}\nimport os, subprocess, sys\nargs = sys.argv[1:]\n"
        "if args[:1] == ['run'] and 'combine' in args:\n"
        "    image = args.index('combine') - 1\n"
        f"    probe = subprocess.run([{DOCKER!r}, *args[:image], '--entrypoint', '/bin/sh', args[image], '-c',\n"
        "        'cat /workspace/.git/config; echo FOUND; grep -rl ghs_ /workspace/.git; "
        "echo x >> /workspace/.git/config && echo WROTE; true'], capture_output=True, text=True)\n"
        f"    open({str(seen)!r}, 'a').write(probe.stdout + probe.stderr)\n"
        f"os.execv({DOCKER!r}, [{DOCKER!r}, *args])\n")
    (folder / "docker").chmod(0o755)
    return env


def stand_ins(tmp_path: Path, action: Path) -> List[str]:
    """--local-repository for every remote action: this repository for the action, the artifact
    stand-ins for upload/download-artifact, an empty action for the rest (checkout: act copies the
    repository itself; cache: skipped with an image input)."""
    text = (REPO / "action.yml").read_text() + (REPO / "docs" / "examples" / "matrix.yml").read_text()
    args = ["--local-repository", f"{ACTION}={action}"]
    for number, ref in enumerate(sorted(set(re.findall(r"uses:\s*([\w.-]+/[\w.-]+@[0-9a-f]{40})", text)))):
        kind = ref.split("@")[0].split("/")[1]
        if kind in ("upload-artifact", "download-artifact"):
            folder = REPO / "tests" / "e2e" / "act" / "artifacts" / kind.split("-")[0]
        elif kind == "cache":  # with cache/restore and cache/save (the baseline's)
            folder = REPO / "tests" / "e2e" / "act" / "cache"
        else:
            folder = tmp_path / f"stub-{number}"
            folder.mkdir()
            (folder / "action.yml").write_text(
                "name: stub\ndescription: does nothing here\nruns:\n  using: composite\n"
                "  steps:\n    - run: 'true'\n      shell: bash\n")
        args += ["--local-repository", f"{ref}={folder}"]
    return args


def jobs_lines(log: str) -> Dict[str, List[str]]:
    """act's log by job: ``[matrix.yml/tests-2] ...`` lines under ``tests-2``."""
    by_job: Dict[str, List[str]] = {}
    for line in log.splitlines():
        found = re.match(r"\[[^/\]]+/([^\]]+?)\s*\]\s(.*)", line)
        if found:
            by_job.setdefault(found.group(1), []).append(found.group(2))
    return by_job


def test_a_matrix_of_three_shards_and_a_report_job_equals_one_unsharded_run(tmp_path: Path):
    action = copy_action(tmp_path / "action")
    repo = tmp_path / "repo"
    project_at(repo / "backend")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "matrix.yml").write_text(the_workflow())
    commit_all(repo)

    # The unsharded run: the same project, the same image, straight through docker.
    whole = tmp_path / "whole"
    shutil.copytree(repo, whole)  # with .git: paths relative to the repository, as in the jobs
    cache = Path.home() / ".cache" / "async-test" / "uv"  # the action's dependency cache
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([DOCKER, "run", "--rm", "-v", f"{whole}:/workspace", "-v", f"{cache}:/cache",
                           "-v", f"{CA}:/etc/ssl/certs/async-test-ca.crt:ro",
                           "-e", "SSL_CERT_FILE=/etc/ssl/certs/async-test-ca.crt",
                           "-e", "ASYNC_TEST_COLOR=yes",  # as the action runs under GitHub (and act)
                           IMAGE, "backend", "--fail-under", "80"], capture_output=True, text=True, timeout=900)
    assert done.returncode in (1, 4), done.stdout[-4000:] + done.stderr[-2000:]

    artifacts, keep = tmp_path / "artifacts", tmp_path / "keep"
    artifacts.mkdir()
    keep.mkdir()
    cmd = [ACT, "push", "-P", "ubuntu-latest=-self-hosted", "-W", ".github/workflows/matrix.yml",
           "--concurrent-jobs", "1", "--env", f"IMAGE={IMAGE}", "--env", f"ASYNC_TEST_ARTIFACTS={artifacts}",
           "--env", f"KEEP={keep}", *stand_ins(tmp_path, action)]
    seen = tmp_path / "combine-view.txt"
    run = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1800,
                         env=probing_docker(tmp_path / "bin", seen))
    log = run.stdout + run.stderr
    (tmp_path / "act.log").write_text(log)
    assert run.returncode != 0, "a failing test fails the workflow"
    jobs = jobs_lines(log)
    assert sorted(jobs) == ["report", "tests-1", "tests-2", "tests-3"], (sorted(jobs), log[-6000:])

    # The report job's combine container saw .git as the test jobs do: no token, nothing writable.
    view = seen.read_text()
    config, _, found = view.partition("FOUND")
    assert "repositoryformatversion" in config and TOKEN not in view and "extraheader" not in view.lower(), view
    assert "WROTE" not in found and "ghs_" not in found, view

    # Each shard uploaded its folder with the coverage data (hidden files) under its own name.
    shard_ids = []
    for k in (1, 2, 3):
        name = f"async-test-shard-{k}-of-3"
        inputs = json.loads((artifacts / f"{name}.inputs.json").read_text())
        assert inputs == {"name": name, "path": "backend/.async-test", "include-hidden-files": "true",
                          "if-no-files-found": "warn", "retention-days": ""}
        assert (artifacts / name / ".coverage.unit").is_file(), sorted(p.name for p in (artifacts / name).iterdir())
        shard_ids.append(case_ids(artifacts / name))
    whole_results = whole / "backend" / ".async-test"
    assert_each_test_once(shard_ids, case_ids(whole_results))

    # The combined results are the unsharded run's: counts, failures, coverage figures, covered lines.
    combined = keep / "combined"
    assert comparable(combined) == comparable(whole_results)
    summary = json.loads((combined / "summary.json").read_text())
    assert [(r["index"], r["total"]) for r in summary["shards"]] == [(1, 3), (2, 3), (3, 3)]
    failing = [i for i, ids in enumerate(shard_ids, 1) if any("test_deliberately_fails" in t for t in ids)]
    assert len(failing) == 1
    tests = sum(p["counts"]["total"] for p in summary["passes"].values())
    assert f"OUTPUT tests={tests} failures=1 exit-code={summary['exit']['code']}" in log, log[-6000:]

    # The report job published the combined folder (HTML report and badge) and linked it; shards did not.
    assert sorted(p.name for p in artifacts.iterdir() if p.is_dir()) == [
        "async-test-results-report", *(f"async-test-shard-{k}-of-3" for k in (1, 2, 3))]
    published = artifacts / "async-test-results-report"
    recorded = json.loads((artifacts / "async-test-results-report.inputs.json").read_text())
    assert recorded == {"name": "async-test-results-report", "path": "backend/.async-test",
                        "include-hidden-files": "true", "if-no-files-found": "warn", "retention-days": ""}
    assert (published / "html" / "index.html").is_file() and (published / "badge.svg").is_file()
    percent = summary["coverage"]["combined"]["percent"]
    url = "https://github.invalid/artifacts/async-test-results-report"  # the upload stand-in's
    assert re.search(rf"BADGE {colour(percent)} {int(percent)}% /\S+/backend/.async-test/badge.svg url={url}", log)
    assert f"[download the artifact]({url})" in log

    # Once: one job summary, one annotation for the one failure, both from the report job.
    for job, lines in jobs.items():
        summaries = [line for line in lines if "Summary - " in line]
        errors = [line for line in lines if "::error" in line and "❗" in line]
        if job == "report":
            assert len(summaries) == 1, "\n".join(lines[-80:])
            assert len(errors) == 1 and "file=backend/tests/unit/test_failing.py," in errors[0], errors
            assert "\x1b" not in errors[0] and "- negative" in errors[0], "pytest's colours in the annotation"
        else:
            assert summaries == [] and errors == [], (job, summaries, errors)
    # The failing test's shard job fails, the others pass; the report job fails too. (By the action's last
    # step: act's own "Job failed" line marks every job of a matrix once one of them failed.)
    for job, lines in jobs.items():
        verdict = [line for line in lines if "Main Fail the job when the tests failed" in line and "-" in line]
        failed = job == "report" or job == f"tests-{failing[0]}"
        assert verdict and verdict[-1].strip().startswith("❌  Failure" if failed else "✅  Success"), (job, verdict)
