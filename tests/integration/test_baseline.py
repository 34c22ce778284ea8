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

from helpers import write_files

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
BASE_UNIT = '''
from svc.calc import add, sub


def test_add():
    assert add(1, 2) == 3


def test_sub():
    assert sub(3, 2) == 1


def test_broken_on_main():
    assert add(1, 1) == 3
'''
HEAD_UNIT = '''
from svc.calc import add


def test_add():
    assert add(1, 2) == 3


def test_broken_on_main():
    assert add(1, 1) == 3


def test_broken_here():
    assert add(2, 2) == 5
'''
DB = '''
import time

import pytest
from sqlalchemy import text


async def test_list_orders(async_db_session):
    for n in range({loop}):
        await async_db_session.execute(text(f"SELECT {{n}}"))


@pytest.mark.parametrize("n", range(6))
async def test_steady(async_db_session, n):
    await async_db_session.execute(text("SELECT 1"))
    time.sleep(0.1)
'''
PYPROJECT = ('[project]\nname = "svc"\nversion = "0"\n'
             '[tool.pytest.ini_options]\nasyncio_mode = "auto"\npythonpath = ["src"]\n')


def project(root: Path, unit: str, loop: int) -> Path:
    return write_files(root, {
        "pyproject.toml": PYPROJECT, "src/svc/__init__.py": "", "src/svc/calc.py": CALC,
        "tests/unit/test_calc.py": unit, "tests/integration/test_db.py": DB.format(loop=loop),
    })


def cli(*args: str, cluster: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_", "GITHUB_"))
           and k != "DATABASE_URL"}
    env["ASYNC_TEST_PG_CLUSTER"] = cluster
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def comparison(results: Path) -> Dict[str, object]:
    doc: Dict[str, object] = json.loads((results / "comparison.json").read_text())
    return doc


def test_a_change_compared_with_the_stored_baseline(tmp_path, pg_cluster):
    svc = project(tmp_path / "svc", BASE_UNIT, loop=2)
    base = cli("run", str(svc), "--results-dir", str(tmp_path / "r-base"), "--baseline", str(tmp_path / "bl"),
               cluster=pg_cluster)
    assert base.returncode == 1, base.stdout[-3000:] + base.stderr[-2000:]
    assert f"baseline stored in {tmp_path / 'bl' / 'baseline.json'}" in base.stdout
    project(svc, HEAD_UNIT, loop=20)
    head = cli("run", str(svc), "--results-dir", str(tmp_path / "r-head"), cluster=pg_cluster)
    assert head.returncode == 1, head.stdout[-3000:]
    done = cli("compare", str(tmp_path / "bl"), str(tmp_path / "r-head"), cluster=pg_cluster)
    assert done.returncode == 0, done.stdout + done.stderr
    c = comparison(tmp_path / "r-head")
    assert c["failures"] == {"new": ["tests/unit/test_calc.py::test_broken_here"],
                             "also_on_base": ["tests/unit/test_calc.py::test_broken_on_main"]}
    assert c["query_regressions"] == [
        {"nodeid": "tests/integration/test_db.py::test_list_orders", "before": 2, "after": 20}]
    assert c["tests"] == {"added": ["tests/unit/test_calc.py::test_broken_here"],
                          "removed": ["tests/unit/test_calc.py::test_sub"]}
    coverage = c["coverage"]
    assert isinstance(coverage, dict) and coverage["unit"]["change"] < 0 and coverage["combined"]["change"] < 0
    assert [f["path"] for f in c["files"]] == ["src/svc/calc.py"]  # type: ignore[attr-defined]
    markdown = (tmp_path / "r-head" / "summary.md").read_text()
    assert "### Compared with the base" in markdown
    assert "| <code>tests/integration/test_db.py::test_list_orders</code> | 2 → 20 |" in markdown
    assert "new failure: tests/unit/test_calc.py::test_broken_here" in done.stdout


def test_two_runs_of_the_same_code_report_no_regression(tmp_path, pg_cluster):
    svc = project(tmp_path / "svc", BASE_UNIT, loop=2)
    for name in ("r1", "r2"):
        assert cli("run", str(svc), "--results-dir", str(tmp_path / name), cluster=pg_cluster).returncode == 1
    done = cli("compare", str(tmp_path / "r1"), str(tmp_path / "r2"), cluster=pg_cluster)  # a results folder as BASE
    assert done.returncode == 0, done.stdout + done.stderr
    c = comparison(tmp_path / "r2")
    assert c["query_regressions"] == [] and c["time_regressions"] == [] and c["files"] == []
    assert c["failures"] == {"new": [], "also_on_base": ["tests/unit/test_calc.py::test_broken_on_main"]}
    assert c["tests"] == {"added": [], "removed": []}
    assert all(figure["change"] == 0 for figure in c["coverage"].values())  # type: ignore[attr-defined]
