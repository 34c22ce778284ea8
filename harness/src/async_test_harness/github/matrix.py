"""One suite as a matrix of shard jobs plus one report job: the action's ``shard`` and ``mode`` inputs.

A shard job (``shard: K/N``) runs its part of the tests and uploads its results folder as the
artifact ``async-test-shard-K-of-N``; it writes no annotations, job summary or comment, since N jobs
would say the same things N times, each about a part. A report job (``mode: report``) that
``needs:`` the matrix downloads every such artifact into ``.async-test-shards/`` in the workspace,
merges them with ``async-test combine`` inside the image (coverage.py exists only there) and then
reports once, on the combined summary.json, as a whole run would.

Both inputs are checked in the action's first step, so a typo costs seconds, not a matrix of
image builds. Standard library only: this runs on the runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from ..sharding import Shard, ShardError, parse_shard
from .gitconfig import git_mounts

MODES = ("test", "report")
ARTIFACT_PREFIX = "async-test-shard-"
SHARDS_DIR = ".async-test-shards"  # relative to the workspace: the container sees only the workspace
_ARTIFACT = re.compile(re.escape(ARTIFACT_PREFIX) + r"(\d+)-of-(\d+)")
FIGURES = ("fail-under", "fail-under-unit", "fail-under-integration")


class MatrixError(Exception):
    """A bad ``mode``/``shard`` input, or a report job with nothing to report; one paragraph."""


def _input(env: Mapping[str, str], name: str) -> str:
    return env.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def artifact_name(shard: Shard) -> str:
    """The shard's artifact: unique in the workflow run, and matched by the report job's pattern."""
    return f"{ARTIFACT_PREFIX}{shard.index}-of-{shard.total}"


RESULTS_ARTIFACT = "async-test-results"
_ARTIFACT_NAME = re.compile(r"[^\x00-\x1f\"<>|*?:\\/]{1,200}")  # what upload-artifact v4 accepts


def results_artifact(env: Mapping[str, str]) -> str:
    """The name of the artifact with the whole results folder (HTML report and badge included);
    empty for none (``results-artifact: false``, and shard jobs, whose folders are parts).

    Names are unique in a workflow run, so the default holds the job's id, and its place in a
    matrix (``strategy.job-index``, passed by action.yml): a matrix of whole runs (Python versions)
    does not collide with itself.
    """
    given = _input(env, "results-artifact")
    if given.lower() == "false":
        return ""
    if given:
        if not _ARTIFACT_NAME.fullmatch(given):
            raise MatrixError(f"results-artifact: {given[:80]!r} is not an artifact name (at most 200 characters, "
                              "none of \" : < > | * ? \\ /); give a name, e.g. results-artifact: backend-tests, or "
                              "false to upload nothing.")
        return given
    name = RESULTS_ARTIFACT + "".join(f"-{c}" for c in re.findall(r"[A-Za-z0-9_.-]+", env.get("GITHUB_JOB", "")))
    total, index = env.get("STRATEGY_JOB_TOTAL", ""), env.get("STRATEGY_JOB_INDEX", "")
    if total.isdigit() and index.isdigit() and int(total) > 1:
        name += f"-{int(index) + 1}-of-{total}"
    return name


@dataclass(frozen=True)
class Plan:
    """What this job of the matrix does: ``test`` (all tests, or one shard of them) or ``report``."""

    mode: str
    shard: Optional[Shard]
    results_artifact: str = ""

    @property
    def shard_job(self) -> bool:
        return self.mode == "test" and self.shard is not None

    def outputs(self) -> Dict[str, str]:
        """Step outputs action.yml's conditions and the artifact steps read."""
        return {"mode": self.mode, "shard-job": "true" if self.shard_job else "false",
                "artifact": artifact_name(self.shard) if self.shard is not None else "",
                "shards-dir": SHARDS_DIR, "results-artifact": "" if self.shard_job else self.results_artifact}


def plan(env: Mapping[str, str]) -> Plan:
    """The ``mode`` and ``shard`` inputs, checked; MatrixError says what to write instead."""
    mode = _input(env, "mode") or "test"
    if mode not in MODES:
        raise MatrixError(f"mode: {mode[:80]!r} is not test or report. Use mode: test (the default) in the jobs "
                          "that run tests, and mode: report in one job that needs: the matrix of shard jobs, to "
                          "report their combined results once.")
    text = _input(env, "shard")
    results = results_artifact(env)
    if not text:
        return Plan(mode, None, results)
    if mode == "report":
        raise MatrixError(f"shard: {text[:80]!r} was given with mode: report, which runs no tests: it combines "
                          "the results of every shard. Give shard only to the matrix's test jobs, e.g. "
                          "shard: ${{ matrix.shard }}/3.")
    try:
        return Plan(mode, parse_shard(text), results)
    except ShardError:
        raise MatrixError(f"shard: {text[:80]!r} is not K/N, this job's shard K of N with 1 <= K <= N. In a "
                          "matrix of three jobs write strategy.matrix.shard: [1, 2, 3] and "
                          "shard: ${{ matrix.shard }}/3; every test then runs in exactly one job.") from None


def shard_folders(workspace: Path) -> List[Path]:
    """The downloaded artifacts (one folder each, as download-artifact lays out a pattern), by shard."""
    root = workspace / SHARDS_DIR
    found = []
    for folder in root.iterdir() if root.is_dir() else ():
        match = _ARTIFACT.fullmatch(folder.name)
        if match and folder.is_dir():
            found.append(((int(match.group(2)), int(match.group(1))), folder))
    return [folder for _, folder in sorted(found)]


def combine_command(env: Mapping[str, str], image: str, results: str) -> List[str]:
    """``docker run IMAGE combine`` of the downloaded shards into ``results`` (relative to the workspace).

    The container gets the workspace and nothing else: no token, no runner files, and the test jobs'
    view of git (every ``.git`` read-only, its configs without credentials: ``gitconfig.git_mounts``),
    since a project's coverage configuration can load its own code (a coverage plugin) in there.
    Combine refuses a set of shards with one missing or of different N, so a shard whose upload
    failed is named there. The scrubbed copies are the caller's to remove (``gitconfig.cleanup``).
    """
    workspace = Path(env.get("GITHUB_WORKSPACE") or ".")
    folders = shard_folders(workspace)
    if not folders:
        raise MatrixError(f"mode: report found no shard results in {workspace / SHARDS_DIR}. The shard jobs upload "
                          f"them as artifacts named {ARTIFACT_PREFIX}K-of-N when they run with shard: K/N; give "
                          "this job needs: [the matrix job] and if: always(), so it runs after them even when a "
                          "shard's tests failed.")
    project = "/".join(p for p in _input(env, "working-directory").replace("\\", "/").split("/") if p not in ("", "."))
    cmd = ["docker", "run", "--rm", "-v", f"{workspace}:/workspace", *git_mounts(workspace, env),
           "-e", f"ASYNC_TEST_HOST_WORKSPACE={workspace}", image, "combine", f"/workspace/{results}",
           *(f"/workspace/{SHARDS_DIR}/{folder.name}" for folder in folders),
           "--project", f"/workspace/{project}".rstrip("/") or "/workspace"]
    if results_artifact(env):
        cmd.append("--html")  # uploaded with the folder
    for name in FIGURES:
        value = _input(env, name)
        if value:
            cmd += [f"--{name}", value]
    return cmd
