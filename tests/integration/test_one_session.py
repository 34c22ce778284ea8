"""Both passes in one pytest session (runner/session.py) report what two processes reported.

The proof is a comparison on the same project: the default run (one session) and
``--separate-passes`` (a pytest process per pass, as before) must give the same counts, failures,
coverage figures and covered lines per pass, the same JUnit test cases per pass, and the same exit
code; and the guarantees that came with two processes hold in one: a unit test cannot reach the
database although the session has one, and a session that dies in the unit tests still reports
the integration tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Optional

import pytest

from helpers import write_files

APP = '''\
def unit_only(x):
    if x < 0:
        return "negative"
    return "positive"


def integration_only(rows):
    return len(rows)


def both(x):
    return x * 2


def nobody():
    return "never"
'''

UNIT_TESTS = '''\
import os

import pytest

from app.core import both, unit_only


def test_sign():
    assert unit_only(-1) == "negative"
    assert both(1) == 2


def test_fails():
    assert unit_only(1) == "nope"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


def test_cannot_reach_the_database():
    import asyncio

    import asyncpg

    async def connect():
        return await asyncpg.connect(os.environ["DATABASE_URL"])

    with pytest.raises(Exception) as err:
        asyncio.run(connect())
    assert "Database access is blocked" in str(err.value), str(err.value)
'''

INTEGRATION_TESTS = '''\
import pytest
from sqlalchemy import text

from app.core import both, integration_only


@pytest.mark.asyncio
async def test_query(async_db_session):
    rows = (await async_db_session.execute(text("SELECT 1 UNION SELECT 2"))).all()
    assert integration_only(rows) == 2
    assert both(2) == 4


@pytest.mark.asyncio
async def test_fails(async_db_session):
    assert await async_db_session.scalar(text("SELECT 1")) == 2
'''


@pytest.fixture
def env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}


def project_at(root: Path, unit: bool = True) -> Path:
    files = {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "app/__init__.py": "",
        "app/core.py": APP,
        "tests/integration/test_db.py": INTEGRATION_TESTS,
    }
    if unit:
        files["tests/unit/test_core.py"] = UNIT_TESTS
    return write_files(root, files)


def run(project: Path, env: Dict[str, str], results: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project),
                           "--results-dir", str(results), "--cov-source", "app", *args, "--", "-p", "no:randomly"],
                          env=env, capture_output=True, text=True, timeout=300)


def covered_lines(data_file: Path) -> Dict[str, list]:
    from coverage import CoverageData

    data = CoverageData(basename=str(data_file))
    data.read()
    return {Path(f).name: sorted(data.lines(f) or []) for f in data.measured_files()}


def junit_cases(path: Path) -> Dict[str, Optional[str]]:
    """Test case -> its outcome element (None: passed), as the file reports it."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), None)
        cases[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return cases


def comparable(results: Path) -> Dict[str, object]:
    s = json.loads((results / "summary.json").read_text())
    passes = {}
    for kind, p in s["passes"].items():
        passes[kind] = {
            "status": p["status"], "exit_code": p["exit_code"], "counts": p["counts"],
            "failures": sorted((f["nodeid"], f["when"], f["file"], f["line"], f["message"]) for f in p["failures"]),
        }
    return {
        "exit": s["exit"]["code"],
        "passes": passes,
        "coverage": {k: s["coverage"][k] for k in ("unit", "integration", "combined")},
        "files": s["coverage"].get("files"),
        "lines": {kind: covered_lines(results / f".coverage.{kind}") for kind in ("unit", "integration")},
        "junit": {kind: junit_cases(results / f"junit-{kind}.xml") for kind in ("unit", "integration")},
    }


@pytest.mark.parametrize("unit", [True, False], ids=["unit-and-integration", "no-unit-tests"])
def test_one_session_reports_exactly_what_two_processes_reported(tmp_path, env, pg_cluster, unit):
    project = project_at(tmp_path / "svc", unit=unit)
    env = dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster)
    one = run(project, env, tmp_path / "one")
    two = run(project, env, tmp_path / "two", "--separate-passes")
    assert "(one pytest session)" in one.stdout and "(two processes: --separate-passes)" in two.stdout
    assert one.returncode == two.returncode == 1, one.stdout[-3000:] + one.stderr[-2000:]
    a, b = comparable(tmp_path / "one"), comparable(tmp_path / "two")
    assert a == b
    assert a["passes"]["integration"]["counts"]["failed"] == 1  # the comparison compared something
    if unit:
        assert a["passes"]["unit"]["counts"] == {
            "passed": 2, "failed": 1, "errors": 0, "skipped": 1, "xfailed": 0, "xpassed": 0, "total": 4}
        assert a["coverage"]["unit"]["percent"] < a["coverage"]["combined"]["percent"]
    else:
        assert a["passes"]["unit"]["status"] == "empty" and a["passes"]["unit"]["exit_code"] == 5
    assert not (tmp_path / "one" / "junit-all.xml").exists() and not (tmp_path / "one" / ".coverage.all").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_session_that_dies_in_the_unit_tests_still_runs_the_integration_tests(tmp_path, env, pg_cluster, where):
    """The kinds run in the project's order: a unit test that kills the session gives the integration tests
    a process of their own, before they ran as after they reported: the session that died wrote no JUnit
    file and saved no coverage, which their own process writes, as two processes did."""
    project = project_at(tmp_path / "svc")
    (project / "tests" / "unit" / "test_core.py").unlink()
    folder = "aa_unit" if where == "before" else "zz_unit"  # before or after tests/integration
    write_files(project, {f"tests/{folder}/test_core.py": "import os\n\n\ndef test_dies():\n    os._exit(7)\n"})
    done = run(project, dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster), tmp_path / "results")
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    unit, integration = s["passes"]["unit"], s["passes"]["integration"]
    assert unit["status"] == "error" and "exited 7" in unit["status_reason"], done.stdout[-3000:]
    assert integration["counts"]["passed"] == 1 and integration["counts"]["failed"] == 1, done.stdout[-3000:]
    assert "integration pass (after the session ended early)" in done.stdout
    cases = ET.parse(tmp_path / "results" / "junit-integration.xml").getroot().iter("testcase")
    assert len(list(cases)) == 2, done.stdout[-3000:]
    assert done.returncode == 1


def test_the_projects_dynamic_contexts_mean_two_processes(tmp_path, env, pg_cluster):
    project = project_at(tmp_path / "svc")
    (project / ".coveragerc").write_text("[run]\ndynamic_context = test_function\n")
    done = run(project, dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster), tmp_path / "results")
    assert "(two processes: the project's coverage configuration sets dynamic_context)" in done.stdout
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert s["passes"]["unit"]["counts"]["total"] == 4 and s["passes"]["integration"]["counts"]["total"] == 2


def test_xdist_in_one_session_splits_coverage_as_two_processes_do(tmp_path, env, pg_cluster):
    """Under -n 2 each worker records the kind of each test it runs; the split is the same."""
    project = project_at(tmp_path / "svc")
    env = dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster)
    one = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                          str(tmp_path / "one"), "--cov-source", "app", "--", "-p", "no:randomly", "-n", "2"],
                         env=env, capture_output=True, text=True, timeout=300)
    run(project, env, tmp_path / "two", "--separate-passes")
    assert "(one pytest session)" in one.stdout and "2 workers" in one.stdout, one.stdout[-3000:]
    a, b = comparable(tmp_path / "one"), comparable(tmp_path / "two")
    assert a["lines"] == b["lines"] and a["coverage"] == b["coverage"] and a["files"] == b["files"]
    assert {k: p["counts"] for k, p in a["passes"].items()} == {k: p["counts"] for k, p in b["passes"].items()}


def test_without_postgresql_the_unit_tests_still_run_and_the_integration_pass_says_why(tmp_path, env):
    """The session waits for the server after its own start-up; a server that never comes stops it
    before its first conftest, and the unit tests then run on their own, as before."""
    project = project_at(tmp_path / "svc")
    done = run(project, dict(env, ASYNC_TEST_PG_BIN_DIR=str(tmp_path / "no-postgres-here")), tmp_path / "results")
    s = json.loads((tmp_path / "results" / "summary.json").read_text())
    unit, integration = s["passes"]["unit"], s["passes"]["integration"]
    assert unit["counts"]["passed"] == 2 and unit["counts"]["failed"] == 1, done.stdout[-3000:]
    assert integration["status"] == "error" and integration["counts"]["total"] == 0
    assert s["infrastructure_error"]["phase"] == "database"
    assert "PostgreSQL did not start" in s["infrastructure_error"]["message"]
    assert done.returncode == 3
    assert not (tmp_path / "results" / ".server.json").exists()



def test_a_cov_context_in_the_projects_addopts_means_two_processes(tmp_path, env, pg_cluster):
    project = project_at(tmp_path / "svc")
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = strict\naddopts = --cov-context=test\n")
    done = run(project, dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster), tmp_path / "results")
    assert "(two processes: --cov-context sets the project's own coverage contexts)" in done.stdout, done.stdout[-2000:]


def plain_pytest_cov(project: Path, env: Dict[str, str], out: Path) -> Dict[str, object]:
    """What plain ``pytest --cov=app`` measures on the same tests (the plugin only gives the fixtures)."""
    data = out / ".coverage.plain"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "--cov=app", "--cov-report="],
                          cwd=project, env=dict(env, COVERAGE_FILE=str(data)), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    import coverage

    cov = coverage.Coverage(data_file=str(data))
    cov.load()
    return {Path(f).name: cov.analysis2(f)[1:4] for f in cov.get_data().measured_files()}


def report_files(results: Path, kind: str) -> Dict[str, object]:
    import coverage

    name = ".coverage" if kind == "combined" else f".coverage.{kind}"
    cov = coverage.Coverage(data_file=str(results / name))
    cov.load()
    return {Path(f).name: cov.analysis2(f)[1:4] for f in cov.get_data().measured_files()}


@pytest.mark.parametrize("source", ["--cov-source", "config"])
def test_a_module_no_test_imports_counts_as_with_two_processes_and_plain_pytest_cov(tmp_path, env, pg_cluster,
                                                                                     source):
    """An unimported module is 0 % in every figure, per pass and combined (it vanished from all of them)."""
    project = project_at(tmp_path / "svc")
    (project / "tests" / "unit" / "test_core.py").write_text(
        "from app.core import both\n\n\ndef test_both():\n    assert both(2) == 4\n")
    write_files(project, {"app/unused.py": "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(8))})
    args: tuple = ()
    if source == "config":
        (project / ".coveragerc").write_text("[run]\nsource = app\n")
    env = dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster)

    def go(results: Path, *extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir", str(results)]
        if source == "--cov-source":
            cmd += ["--cov-source", "app"]
        return subprocess.run([*cmd, *extra, *args, "--", "-p", "no:randomly"], env=env, capture_output=True,
                              text=True, timeout=300)

    one = go(tmp_path / "one")
    go(tmp_path / "two", "--separate-passes")
    assert "(one pytest session)" in one.stdout, one.stdout[-3000:]
    a, b = comparable(tmp_path / "one"), comparable(tmp_path / "two")
    assert a["coverage"] == b["coverage"] and a["files"] == b["files"], (a["coverage"], b["coverage"])
    for kind in ("unit", "integration"):
        assert report_files(tmp_path / "one", kind) == report_files(tmp_path / "two", kind)
        assert "unused.py" in report_files(tmp_path / "one", kind)
    assert a["coverage"]["combined"]["percent"] < 60, a["coverage"]
    # plain pytest --cov measures what the combined figure says
    assert report_files(tmp_path / "one", "combined") == plain_pytest_cov(project, env, tmp_path)
