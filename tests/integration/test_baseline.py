"""The baseline on real runs (issue 25): ``async-test run --baseline DIR`` on the base commit, a change
with a coverage drop, an N+1 loop, a new failure and a failure also failing on the base, compared
with ``async-test compare``; and two runs of the same code, which must report no regression."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

from baseline_project import CHANGE, FLAKY_TEST, MAIN, baseline_project


def cli(*args: str, cluster: str, commit: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_", "GITHUB_"))
           and k != "DATABASE_URL"}
    env["ASYNC_TEST_PG_CLUSTER"] = cluster
    if commit:  # the commit a default-branch run would store its baseline under (GITHUB_SHA in the action)
        env["ASYNC_TEST_BASELINE_COMMIT"] = commit
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def comparison(results: Path) -> Dict[str, object]:
    doc: Dict[str, object] = json.loads((results / "comparison.json").read_text())
    return doc


def test_a_change_compared_with_the_stored_baseline(tmp_path, pg_cluster):
    svc = baseline_project(tmp_path / "svc", MAIN, loop=2, steady=True)
    base = cli("run", str(svc), "--results-dir", str(tmp_path / "r-base"), "--baseline", str(tmp_path / "bl"),
               cluster=pg_cluster)
    assert base.returncode == 1, base.stdout[-3000:] + base.stderr[-2000:]
    assert f"baseline stored in {tmp_path / 'bl' / 'baseline.json'}" in base.stdout
    baseline_project(svc, CHANGE, loop=20, steady=True)
    head = cli("run", str(svc), "--results-dir", str(tmp_path / "r-head"), "--compare-with", str(tmp_path / "bl"),
               cluster=pg_cluster)
    assert head.returncode == 1, head.stdout[-3000:]
    after_table = head.stdout.split("── async-test summary", 1)[1]
    assert "async-test: compared with the baseline: coverage combined" in after_table, head.stdout[-3000:]
    assert "query regression: tests/integration/test_db.py::test_list_orders: 2 -> 20 statements" in after_table
    done = cli("compare", str(tmp_path / "bl"), str(tmp_path / "r-head"), cluster=pg_cluster)
    assert done.returncode == 0, done.stdout + done.stderr
    c = comparison(tmp_path / "r-head")
    assert c["failures"] == {"new": ["tests/unit/test_calc.py::test_broken_here"],
                             "also_on_base": ["tests/unit/test_calc.py::test_broken_on_main"]}
    assert c["query_regressions"] == [
        {"nodeid": "tests/integration/test_db.py::test_list_orders", "before": 2, "after": 20}]
    assert c["tests"] == {"added": ["tests/unit/test_calc.py::test_broken_here"],
                          "removed": ["tests/unit/test_calc.py::test_sub"], "left_out": 0}
    coverage = c["coverage"]
    assert isinstance(coverage, dict) and coverage["unit"]["change"] < 0 and coverage["combined"]["change"] < 0
    assert [f["path"] for f in c["files"]] == ["app/calc.py"]  # type: ignore[attr-defined]
    markdown = (tmp_path / "r-head" / "summary.md").read_text()
    assert "### Compared with the base" in markdown
    assert "| <code>tests/integration/test_db.py::test_list_orders</code> | 2 → 20 |" in markdown
    assert "new failure: tests/unit/test_calc.py::test_broken_here" in done.stdout
    # several gates trip: the verdict names every one, with its figures (it named the first only)
    gated = cli("compare", str(tmp_path / "bl"), str(tmp_path / "r-head"), "--fail-on", "new",
                "--max-coverage-drop", "combined=0.1", "--fail-on-query-regressions", cluster=pg_cluster)
    assert gated.returncode == 1, gated.stdout + gated.stderr
    drop = -c["coverage"]["combined"]["change"]  # type: ignore[index]
    verdict = (f"async-test: verdict: exit 1 (failed: 1 new failure (--fail-on new); combined coverage dropped "
               f"{drop:.2f} points (limit 0.1); 1 query regression)")
    assert verdict in gated.stdout.splitlines(), gated.stdout
    assert verdict.split("(", 1)[1][:-1] in (tmp_path / "r-head" / "summary.md").read_text()


def test_two_runs_of_the_same_code_report_no_regression(tmp_path, pg_cluster):
    svc = baseline_project(tmp_path / "svc", MAIN, loop=2, steady=True)
    for name in ("r1", "r2"):
        assert cli("run", str(svc), "--results-dir", str(tmp_path / name), cluster=pg_cluster).returncode == 1
    done = cli("compare", str(tmp_path / "r1"), str(tmp_path / "r2"), cluster=pg_cluster)  # a results folder as BASE
    assert done.returncode == 0, done.stdout + done.stderr
    c = comparison(tmp_path / "r2")
    assert c["query_regressions"] == [] and c["time_regressions"] == [] and c["files"] == []
    assert c["failures"] == {"new": [], "also_on_base": ["tests/unit/test_calc.py::test_broken_on_main"]}
    assert c["tests"] == {"added": [], "removed": [], "left_out": 0}
    assert all(figure["change"] == 0 for figure in c["coverage"].values())  # type: ignore[attr-defined]


def test_a_test_flaky_on_two_of_the_last_stored_runs_is_known_flaky(tmp_path, pg_cluster):
    """Three default-branch runs store their baselines in turn (the test flaky in the first and the
    third); the one baseline left carries their flaky history, and a later run compared with it lists
    the test as known-flaky."""
    svc, bl = tmp_path / "svc", tmp_path / "bl"
    for n, flaky in enumerate((True, False, True), 1):
        baseline_project(svc, MAIN, flaky=flaky)
        done = cli("run", str(svc), "--results-dir", str(tmp_path / f"r{n}"), "--baseline", str(bl),
                   cluster=pg_cluster, commit=f"{n:040x}")
        assert done.returncode == 1 and "baseline stored" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
        if n == 2:  # one flaky run is not yet known-flaky
            assert "known flaky" not in done.stdout
    history = json.loads((bl / "baseline.json").read_text())["flaky_history"]
    assert [(r["commit"], r["flaky"]) for r in history] == [
        (f"{3:040x}", [FLAKY_TEST]), (f"{2:040x}", []), (f"{1:040x}", [FLAKY_TEST])]
    baseline_project(svc, MAIN, flaky=True)
    head = cli("run", str(svc), "--results-dir", str(tmp_path / "r-pr"), "--compare-with", str(bl), cluster=pg_cluster)
    after_table = head.stdout.split("── async-test summary", 1)[1]
    assert f"known flaky (flaky in 2 or more of the base's last 10 runs): {FLAKY_TEST}" in after_table, head.stdout
    assert comparison(tmp_path / "r-pr")["known_flaky"] == [FLAKY_TEST]
    assert "**Known flaky (1)**" in (tmp_path / "r-pr" / "summary.md").read_text()
