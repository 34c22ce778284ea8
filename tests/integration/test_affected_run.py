"""``async-test run --record-map`` then ``--affected BASE_RESULTS`` on a real project in a real git repository
(issue 26 items 1-3): the map names what each test ran, a one-line change runs the tests that reach
it (and catches the failure the full suite catches), a lock file runs everything and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from helpers import assert_summary_round_trip, commit_all, git, write_files

CORE = '''\
LIMIT = 3


def sign(x):
    if x < 0:
        return "negative"
    return "positive"


def count(rows):
    return min(len(rows), LIMIT)
'''

OTHER = '''\
def double(x):
    return x * 2
'''

DB_TEST = '''\
import pytest
from sqlalchemy import text

from app.core import count


@pytest.mark.asyncio
async def test_count(async_db_session):
    rows = (await async_db_session.execute(text("SELECT 1 UNION SELECT 2"))).all()
    assert count(rows) == 2
'''

FILES = {
    "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
    "app/__init__.py": "",
    "app/core.py": CORE,
    "app/other.py": OTHER,
    "tests/unit/test_sign.py": ("from app.core import sign\n\n\n"
                                "def test_negative():\n    assert sign(-1) == 'negative'\n"),
    "tests/unit/test_double.py": ("from app.other import double\n\n\n"
                                  + "".join(f"def test_double_{n}():\n    assert double({n}) == {2 * n}\n\n\n"
                                            for n in range(4))),
    "tests/integration/test_db.py": DB_TEST,
}


@pytest.fixture
def env(pg_cluster: str) -> Dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    return dict(clean, ASYNC_TEST_PG_CLUSTER=pg_cluster)


def run(project: Path, env: Dict[str, str], results: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                           str(results), "--cov-source", "app", *args, "--", "-p", "no:randomly"],
                          env=env, capture_output=True, text=True, timeout=300)


def ran(results: Path) -> set:
    import xml.etree.ElementTree as ET

    found = set()
    for kind in ("unit", "integration"):
        for case in ET.parse(results / f"junit-{kind}.xml").getroot().iter("testcase"):
            if case.find("skipped") is None:
                found.add(case.get("name"))
    return found


def test_record_then_affected_runs_what_the_change_reaches(tmp_path: Path, env: Dict[str, str]) -> None:
    repo = write_files(tmp_path / "repo", FILES)
    commit_all(repo)
    base = tmp_path / "base"
    baseline = tmp_path / "baseline"
    done = run(repo, env, base, "--record-map", "--baseline", str(baseline))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "test map recorded: 6 tests" in done.stdout
    # the map travels with the baseline (issue 25's folder): the same file beside baseline.json
    assert (baseline / "baseline.json").exists()
    assert (baseline / "testmap.json").read_bytes() == (base / "testmap.json").read_bytes()
    testmap = json.loads((base / "testmap.json").read_text())
    assert testmap["base_commit"] and not testmap["dirty"]
    core = testmap["files"]["app/core.py"]
    entered = {testmap["tests"][i] for i in core["blocks"]["1"]}  # count()'s body
    assert entered == {"tests/integration/test_db.py::test_count"}
    # the passes' coverage is what a run without the map measures: per-test contexts split back by kind
    plain = tmp_path / "plain"
    assert run(repo, env, plain).returncode == 0
    summary, without = (json.loads((f / "summary.json").read_text()) for f in (base, plain))
    assert {k: summary["coverage"][k] for k in ("unit", "integration", "combined", "files")} == \
        {k: without["coverage"][k] for k in ("unit", "integration", "combined", "files")}
    assert "affected" not in summary and not (plain / "testmap.json").exists()

    # a one-line change inside count(): the integration test alone runs, and catches it
    (repo / "app/core.py").write_text(CORE.replace("min(len(rows), LIMIT)", "min(len(rows), LIMIT) + 1"))
    head = tmp_path / "head"
    done = run(repo, env, head, "--affected", str(baseline))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert ran(head) == {"test_count"}
    assert "affected: ran 1 of 6 tests (affected by 1 changed file)" in done.stdout
    summary = json.loads((head / "summary.json").read_text())
    coverage_line = summary["affected"].pop("coverage_line")
    assert summary["affected"] == {"line": "ran 1 of 6 tests (affected by 1 changed file)", "run_all": False,
                                   "reason": None, "selected": 1, "collected": 6, "changed_files": 1,
                                   "coverage_carried": True, "carried_forward_files": 2}
    # app/other.py whole; app/core.py changed: sign()'s lines (test_negative, left out) moved with the diff
    assert coverage_line.startswith("coverage: 2 files carried forward from the baseline (")
    assert "**Affected tests**: ran 1 of 6 tests" in (head / "summary.md").read_text()
    assert_summary_round_trip(head / "summary.json")

    # a top-level constant: every test that ran core.py (sign's and count's), none of other.py's
    (repo / "app/core.py").write_text(CORE.replace("LIMIT = 3", "LIMIT = 1"))
    done = run(repo, env, head, "--affected", str(base))
    assert ran(head) == {"test_negative", "test_count"}, done.stdout[-3000:]

    # a new test file always runs, the map's own results folder may be the run's
    (repo / "app/core.py").write_text(CORE)
    write_files(repo, {"tests/unit/test_new.py": "def test_new():\n    assert True\n"})
    done = run(repo, env, head, "--affected", str(base))
    assert done.returncode == 0 and ran(head) == {"test_new"}, done.stdout[-3000:]

    # documentation alone: nothing to run is a success, and says so
    (repo / "tests/unit/test_new.py").unlink()
    (repo / "README.md").write_text("# docs\n")
    done = run(repo, env, head, "--affected", str(base))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "affected: ran 0 of 6 tests (affected by 0 changed files)" in done.stdout

    # a lock file: everything runs, and the one line says why
    (repo / "uv.lock").write_text("version = 1\n")
    done = run(repo, env, head, "--affected", str(base))
    assert done.returncode == 0, done.stdout[-3000:]
    assert len(ran(head)) == 6
    assert "affected: ran every test: uv.lock changed, which coverage does not measure" in done.stdout
    assert json.loads((head / "summary.json").read_text())["affected"]["run_all"] is True


def test_no_map_runs_everything_with_one_line(tmp_path: Path, env: Dict[str, str]) -> None:
    repo = write_files(tmp_path / "repo", FILES)
    git(repo, "init", "-q")
    done = run(repo, env, tmp_path / "head", "--affected", str(tmp_path / "nowhere"), "--only", "unit",
               "--affected-missing-ok")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "affected    every test runs: no testmap.json in" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_base_named_on_the_command_line_is_a_usage_error(tmp_path: Path, env: Dict[str, str]) -> None:
    repo = write_files(tmp_path / "repo", FILES)
    git(repo, "init", "-q")
    for base in (tmp_path / "nonexistent", repo / "app"):  # a typo; a folder that is not a results folder
        done = run(repo, env, tmp_path / "head", "--affected", str(base))
        assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-2000:]
        out = done.stdout + done.stderr
        assert f"--affected {base}:" in out and "Traceback" not in out
        assert not (tmp_path / "head" / "summary.json").exists()  # nothing ran


def test_an_affected_run_compared_with_its_base_lists_no_left_out_test_as_removed(
        tmp_path: Path, env: Dict[str, str]) -> None:
    """A new user's trial: every test the selection left out was listed as *removed* (console, job summary,
    comment), though it still exists; it is counted as left out instead."""
    repo = write_files(tmp_path / "repo", FILES)
    commit_all(repo)
    baseline = tmp_path / "baseline"
    done = run(repo, env, tmp_path / "base", "--record-map", "--baseline", str(baseline))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (repo / "app/other.py").write_text(OTHER.replace("return x * 2", "return 2 * x"))
    head = tmp_path / "head"
    done = run(repo, env, head, "--affected", str(baseline), "--compare-with", str(baseline))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = json.loads((head / "summary.json").read_text())
    assert summary["affected"]["selected"] == 4 and summary["affected"]["collected"] == 6  # the premise
    comparison = json.loads((head / "comparison.json").read_text())
    assert comparison["tests"]["removed"] == [] and comparison["tests"]["left_out"] == 2, comparison["tests"]
    assert "0 removed (2 left out by --affected)" in done.stdout, done.stdout[-1500:]
    assert "0 removed (2 left out by the affected selection)" in (head / "summary.md").read_text()


def _combine(env: Dict[str, str], out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "combine", str(out), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def coverage_of(results: Path) -> Dict[str, Any]:
    """The figures and per-file line sets, without the carried-forward marks (what a full run reports)."""
    cov = json.loads((results / "summary.json").read_text())["coverage"]
    return {"unit": cov["unit"], "integration": cov["integration"], "combined": cov["combined"],
            "files": {f["path"]: {k: v for k, v in f.items() if k != "carried_forward"} for f in cov["files"]}}


def test_the_shards_of_an_affected_run_combine_to_the_full_suites_coverage(tmp_path: Path,
                                                                            env: Dict[str, str]) -> None:
    """combine merged the shards' coverage of the selected tests only, said nothing of the selection, and
    checked --fail-under on those figures (a false red). Each shard now writes the left-out tests' lines
    from the base's map, and combine carries them forward: the full suite's figures, thresholds checked."""
    repo = write_files(tmp_path / "repo", FILES)
    commit_all(repo)
    baseline = tmp_path / "baseline"
    assert run(repo, env, tmp_path / "base", "--record-map", "--baseline", str(baseline)).returncode == 0
    (repo / "app/other.py").write_text(OTHER.replace("return x * 2", "return 2 * x"))
    assert run(repo, env, tmp_path / "full").returncode == 0
    shards = [str(tmp_path / f"s{k}") for k in (1, 2)]
    for k in (1, 2):
        done = run(repo, env, tmp_path / f"s{k}", "--affected", str(baseline), "--shard", f"{k}/2")
        assert done.returncode in (0, 5), done.stdout[-3000:] + done.stderr[-2000:]
    done = _combine(env, tmp_path / "combined", *shards)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    combined = tmp_path / "combined"
    summary = json.loads((combined / "summary.json").read_text())
    assert summary["affected"]["line"] == "ran 4 of 6 tests (affected by 1 changed file)"
    assert summary["affected"]["coverage_carried"] is True, summary["affected"]
    assert coverage_of(combined) == coverage_of(tmp_path / "full")  # every figure and file: the full suite's
    assert "affected: ran 4 of 6 tests" in done.stdout and "carried forward from the baseline" in done.stdout
    assert "ran 4 of 6 tests" in (combined / "summary.md").read_text()
    assert_summary_round_trip(combined / "summary.json")
    # the thresholds are checked on the carried totals: the full suite's figure passes, one above fails
    full = json.loads((tmp_path / "full" / "summary.json").read_text())["coverage"]["combined"]["percent"]
    assert _combine(env, tmp_path / "c2", *shards, "--fail-under", f"{full - 1:.0f}").returncode == 0
    assert _combine(env, tmp_path / "c3", *shards, "--fail-under", f"{min(100, full + 1):.0f}").returncode == 4

    # a shard without the lines (an older harness): not carried, said why, and no threshold checked
    (tmp_path / "s2" / "affected-carry.json").unlink()
    done = _combine(env, tmp_path / "c4", *shards, "--fail-under", "99")
    assert done.returncode == 0, done.stdout[-3000:]
    summary = json.loads((tmp_path / "c4" / "summary.json").read_text())
    assert summary["affected"]["coverage_carried"] is False
    assert "coverage not carried forward: s2 holds no affected-carry.json" in done.stdout
    assert set(summary["coverage"]["thresholds"].values()) == {None}
