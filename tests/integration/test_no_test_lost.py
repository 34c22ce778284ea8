"""A test that did not report is a failure: no run whose selected tests did not all report is green.

A test that calls ``pytest.exit(returncode=0)`` or ``os._exit(0)`` ends its pytest process with exit
code 0 and leaves no trace of the tests after it: the run once said "all selected tests passed"
with the integration tests never run, or "no tests collected", or (a shard) "had nothing to run".
The runner now compares the tests each process selected (plugin/selection.py) with those that
reported. Nothing here assumes an order of the tests in the one session: the integration tests
must all report whichever kind ran first, and the lost tests are named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from helpers import write_files

INTEGRATION_TESTS = '''\
import pytest
from sqlalchemy import text


@pytest.mark.asyncio
async def test_one(async_db_session):
    assert await async_db_session.scalar(text("SELECT 1")) == 1


@pytest.mark.asyncio
async def test_two(async_db_session):
    assert await async_db_session.scalar(text("SELECT 2")) == 2
'''

DYING_TESTS = '''\
import os

import pytest


def test_before():
    pass


def test_ends_the_process():
    {ending}


def test_after():
    pass
'''

ENDINGS = {"pytest.exit": "pytest.exit('leaving', returncode=0)", "os._exit": "os._exit(0)"}


@pytest.fixture
def env(pg_cluster) -> Dict[str, str]:
    kept = {k: v for k, v in os.environ.items()
            if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    return dict(kept, ASYNC_TEST_PG_CLUSTER=pg_cluster)


def project(root: Path, ending: str, where: str = "unit") -> Path:
    files = {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "app/__init__.py": "",
        "tests/unit/test_a_fine.py": "def test_fine():\n    pass\n",
        "tests/integration/test_db.py": INTEGRATION_TESTS,
    }
    dying = DYING_TESTS.format(ending=ENDINGS[ending])
    if where == "unit":
        files["tests/unit/test_dies.py"] = dying
    else:  # an integration test by its marker
        files["tests/integration/test_dies.py"] = "pytestmark = __import__('pytest').mark.integration\n" + dying
    return write_files(root, files)


def run(project_dir: Path, env: Dict[str, str], results: Path, *args: str,
        pytest_args=()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project_dir), "--results-dir",
                           str(results), "--cov-source", "app", *args, "--", "-p", "no:randomly", *pytest_args],
                          env=env, capture_output=True, text=True, timeout=300)


def lost(summary: dict, kind: str) -> set:
    return {f["nodeid"].split("::")[-1] for f in summary["passes"][kind]["failures"] if f["when"] == "unreported"}


@pytest.mark.parametrize("mode", [(), ("--separate-passes",)], ids=["one-session", "separate-passes"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_unit_test_that_ends_the_process_fails_the_run_and_the_integration_tests_still_run(
        tmp_path, env, ending, mode):
    done = run(project(tmp_path / "svc", ending), env, tmp_path / "results", *mode)
    out = done.stdout[-4000:] + done.stderr[-2000:]
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert done.returncode == 1, out
    assert s["exit"]["code"] == 1 and "did not report" in s["exit"]["reason"], s["exit"]
    unit, integration = s["passes"]["unit"], s["passes"]["integration"]
    # every integration test ran and passed, whichever kind the session ran first
    assert integration["counts"]["passed"] == 2 and integration["counts"]["total"] == 2, out
    assert not integration["failures"], integration["failures"]
    # the test that ended the process and the one after it are named; those before it passed
    assert lost(s, "unit") == {"test_ends_the_process", "test_after"}, unit["failures"]
    assert unit["counts"]["total"] == 4 and unit["counts"]["errors"] == 2, unit["counts"]
    assert unit["status"] == "failed", unit
    assert "did not report" in done.stdout and "test_ends_the_process" in done.stdout
    assert not list((tmp_path / "results").glob("selected-*")), "the selection files are removed once read"


@pytest.mark.parametrize("mode", [(), ("--separate-passes",)], ids=["one-session", "separate-passes"])
def test_an_integration_test_that_ends_the_process_fails_the_run(tmp_path, env, mode):
    done = run(project(tmp_path / "svc", "os._exit", where="integration"), env, tmp_path / "results", *mode)
    out = done.stdout[-4000:] + done.stderr[-2000:]
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert done.returncode == 1, out
    integration = s["passes"]["integration"]
    assert lost(s, "integration") == {"test_ends_the_process", "test_after"}, integration["failures"]
    # the other tests all reported, once each
    assert integration["counts"]["passed"] == 3 and integration["counts"]["total"] == 5, integration["counts"]
    assert s["passes"]["unit"]["counts"] == {
        "passed": 1, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0, "total": 1}


def test_a_shard_whose_test_ends_the_process_is_not_an_empty_shard(tmp_path, env):
    """Every module holds a test that ends the process, so whichever shard holds it fails."""
    root = write_files(tmp_path / "svc", {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "app/__init__.py": "",
        "tests/unit/test_a.py": DYING_TESTS.format(ending="os._exit(0)"),
        "tests/unit/test_b.py": DYING_TESTS.format(ending="pytest.exit('leaving', returncode=0)"),
    })
    for index in (1, 2):
        results = tmp_path / f"shard-{index}"
        done = run(root, env, results, "--shard", f"{index}/2")
        s = json.loads((results / "summary.json").read_text())
        assert done.returncode == 1, done.stdout[-3000:]
        assert "nothing to run" not in s["exit"]["reason"] and "did not report" in s["exit"]["reason"], s["exit"]
        assert lost(s, "unit") == {"test_ends_the_process", "test_after"}
        assert s["passes"]["unit"]["counts"]["total"] == 3


def test_under_xdist_a_test_that_ends_its_worker_is_reported_and_none_is_lost(tmp_path, env):
    """xdist reports a test whose worker died as failed and goes on: nothing is lost, nothing counted twice."""
    done = run(project(tmp_path / "svc", "os._exit"), env, tmp_path / "results", pytest_args=("-n", "2"))
    out = done.stdout[-4000:] + done.stderr[-2000:]
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert done.returncode == 1, out
    unit, integration = s["passes"]["unit"], s["passes"]["integration"]
    assert integration["counts"]["passed"] == 2 and integration["counts"]["total"] == 2, out
    assert unit["counts"]["total"] == 4 and unit["counts"]["passed"] == 3, unit["counts"]
    assert [f["nodeid"].split("::")[-1] for f in unit["failures"]] == ["test_ends_the_process"], unit["failures"]


@pytest.mark.parametrize("mode", [(), ("--separate-passes",)], ids=["one-session", "separate-passes"])
def test_tests_left_after_maxfail_stopped_pytest_are_not_counted_as_lost(tmp_path, env, mode):
    """-x asks pytest to stop at the first failure: the tests after it did not run, as asked."""
    root = write_files(tmp_path / "svc", {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "app/__init__.py": "",
        "tests/unit/test_a.py": "def test_fails():\n    assert False\n\n\ndef test_never_run():\n    pass\n",
    })
    done = run(root, env, tmp_path / "results", *mode, pytest_args=("-x",))
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert done.returncode == 1, done.stdout[-3000:]
    assert not lost(s, "unit") and "did not report" not in s["exit"]["reason"], s["passes"]["unit"]["failures"]
    assert s["passes"]["unit"]["counts"]["failed"] == 1 and s["passes"]["unit"]["counts"]["total"] == 1
