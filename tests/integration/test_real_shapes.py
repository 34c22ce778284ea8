"""Real projects' shapes, run unchanged (issue 11).

Each folder of tests/projects/ is a miniature of a kind of suite seen in public async-service
projects (tests/projects/README.md says which, and the settings each needs). Every one is run the
two ways a user runs it, on a copy, with the settings a user would write from the docs given as
``ASYNC_TEST_*`` variables (the project's files are never edited):

* ``python -m pytest`` in the project's folder, the plugin loaded by its entry point;
* ``async-test run PROJECT``, read back from its summary.json.

Both must be green, split into the unit and integration tests the settings say, with the
database tests on PostgreSQL: each shape has a test named ``*postgresql*`` that checks the server
(and every database test checks its dialect), so a silent fallback to sqlite fails. The last two
shapes do not use the harness: with it installed they must behave exactly as with
``-p no:async_test``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from shapes import BY_NAME, SHAPES, Shape, child_env, copy_project, own_server_url, port_5432_for

# --------------------------------------------------------------------------- helpers


def run(cmd: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def output(proc: subprocess.CompletedProcess, limit: int = 6000) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-limit:]}\n--- stderr\n{proc.stderr[-limit:]}"


@dataclass(frozen=True)
class Case:
    outcome: str  # passed, failed, error, skipped, xfailed
    kind: Optional[str]  # the harness's async_test_kind property, when it classified the test


def junit_cases(path: Path) -> Dict[str, Case]:
    """Each test of a JUnit file: its outcome and the kind the harness gave it."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        nodeid = f"{case.get('classname')}::{case.get('name')}"
        skipped = case.find("skipped")
        if case.find("failure") is not None:
            outcome = "failed"
        elif case.find("error") is not None:
            outcome = "error"
        elif skipped is not None:
            outcome = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        kinds = [p.get("value") for p in case.iter("property") if p.get("name") == "async_test_kind"]
        cases[nodeid] = Case(outcome, kinds[0] if kinds else None)
    return cases


def problems(cases: Dict[str, Case]) -> str:
    return "\n".join(f"{nodeid}: {case.outcome}" for nodeid, case in cases.items()
                     if case.outcome in ("failed", "error"))


def assert_used_postgresql(cases: Dict[str, Case], kind: Optional[str]) -> None:
    """The shape's PostgreSQL check ran, passed, and (when the harness classifies) as an integration test."""
    checks = {nodeid: case for nodeid, case in cases.items() if "postgresql" in nodeid.split("::")[-1]}
    assert checks, f"no *postgresql* check among {sorted(cases)}"
    for nodeid, case in checks.items():
        assert case.outcome == "passed", f"{nodeid}: {case.outcome}"
        if kind is not None:
            assert case.kind == kind, f"{nodeid} classified {case.kind}"


@pytest.fixture(scope="module")
def own_server(pg_cluster: str) -> Iterator[str]:
    """Shape 8's own PostgreSQL (its CI would have a `services: postgres`), with a `myapp` database."""
    with own_server_url(pg_cluster) as url:
        yield url


def fixture_env(shape: Shape, request: pytest.FixtureRequest) -> Dict[str, str]:
    if "MYAPP_DB" in shape.env_from_fixture:
        return {"MYAPP_DB": request.getfixturevalue("own_server")}
    return {}


# --------------------------------------------------------------------------- plain pytest


def plain_pytest(shape: Shape, project: Path, env: Dict[str, str], junit: Path,
                 *args: str) -> Tuple[subprocess.CompletedProcess, Dict[str, Case]]:
    cmd = [sys.executable, "-m", "pytest", *shape.pytest_args, f"--junitxml={junit}", "-rA", *args]
    proc = run(cmd, project / shape.pytest_dir, env)
    return proc, junit_cases(junit) if junit.is_file() else {}  # none when pytest stopped before the tests


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_plain_pytest(shape: Shape, tmp_path: Path, pg_cluster: str, request: pytest.FixtureRequest):
    """`python -m pytest` in the project, the harness configured by environment variables only."""
    project = copy_project(shape, tmp_path)
    env = child_env(shape, project, pg_cluster, fixture_env(shape, request))
    # A suite on a fixed port is run twice in a row, as a developer does: the second run must not
    # find the port taken by the first one's server (stopped, its connections in TIME_WAIT).
    expected = Counter(shape.unit) + Counter(shape.integration)
    times = 2 if shape.port_5432 else 1
    with port_5432_for(shape):
        for n in range(1, times + 1):
            proc, cases = plain_pytest(shape, project, env, tmp_path / f"junit-{n}.xml")
            assert proc.returncode == 0, f"run {n} of {times}: " + problems(cases) + "\n" + output(proc)
            assert Counter(case.outcome for case in cases.values()) == expected, output(proc)
    if shape.uses_harness:
        kinds = Counter(case.kind for case in cases.values())
        assert kinds == {"unit": sum(shape.unit.values()), "integration": sum(shape.integration.values())}, cases
        assert_used_postgresql(cases, "integration")
    else:
        # Installed but not configured: exactly what the suite does without the harness.
        off, off_cases = plain_pytest(shape, project, env, tmp_path / "junit-off.xml", "-p", "no:async_test")
        assert off.returncode == proc.returncode, output(off)
        assert {k: c.outcome for k, c in cases.items()} == {k: c.outcome for k, c in off_cases.items()}
        if shape.integration:
            assert_used_postgresql(cases, None)


def test_hardcoded_trust_with_ci_set(tmp_path: Path, pg_cluster: str):
    """With CI set, shape 5 connects to the host `postgres`. A user can map that name to loopback
    (the image: docker run --add-host postgres:127.0.0.1); here that needs /etc/hosts to say so."""
    try:
        mapped = socket.gethostbyname("postgres")
    except OSError:
        mapped = None
    if mapped is None or not mapped.startswith("127."):
        pytest.skip("the host name 'postgres' does not resolve to loopback here (map it in /etc/hosts to run this)")
    shape = BY_NAME["hardcoded-trust"]
    project = copy_project(shape, tmp_path)
    env = child_env(shape, project, pg_cluster, {"CI": "true"})
    with port_5432_for(shape):
        proc, cases = plain_pytest(shape, project, env, tmp_path / "junit.xml")
    assert proc.returncode == 0, problems(cases) + "\n" + output(proc)
    assert_used_postgresql(cases, "integration")


# --------------------------------------------------------------------------- async-test run


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_async_test_run(shape: Shape, tmp_path: Path, pg_cluster: str, request: pytest.FixtureRequest):
    """`async-test run PROJECT`: both passes green, split as the settings say, on PostgreSQL."""
    project = copy_project(shape, tmp_path)
    extra = fixture_env(shape, request)
    if shape.name == "own-server":
        extra["ASYNC_TEST_DB_FIXTURES"] = "conn"
    env = child_env(shape, project, pg_cluster, extra)
    # An order-sensitive shape passes only in its own order: the default run (one session) keeps it,
    # as two processes do (issue 22 item 2).
    for mode in ([[], ["--separate-passes"]] if shape.order_sensitive else [[]]):
        check_run(shape, project, env, tmp_path / f"results{'-'.join(['', *mode])}", mode)


def check_run(shape: Shape, project: Path, env: Dict[str, str], results: Path, mode: List[str]) -> None:
    with port_5432_for(shape):
        proc = run([sys.executable, "-m", "async_test_harness.cli", "run", str(project / shape.pytest_dir),
                    "--results-dir", str(results), *mode, *shape.run_args], results.parent, env)
    summary_file = results / "summary.json"
    assert summary_file.is_file(), output(proc)
    summary = json.loads(summary_file.read_text())
    failures = [f"{f['nodeid']} ({f['when']}): {f['message']}" for p in summary["passes"].values()
                for f in p["failures"]]
    detail = f"{summary['exit']}\n" + "\n".join(failures) + "\n" + output(proc, 3000)
    assert proc.returncode == 0 and summary["exit"]["code"] == 0, detail
    assert summary["project"]["root"] == str(project / shape.pytest_dir), summary["project"]
    for kind, expected in (("unit", shape.unit), ("integration", shape.integration)):
        counts = summary["passes"][kind]["counts"]
        assert {k: counts[k] for k in expected} == expected, (kind, counts)
        assert counts["total"] == sum(expected.values()) and counts["failed"] == counts["errors"] == 0, (kind, counts)
    if shape.integration:
        assert_used_postgresql(junit_cases(results / "junit-integration.xml"), "integration")
    if shape.name == "two-drivers":
        # fail_under = 95 in the project's coverage config holds for the run as a whole; neither
        # pass alone reaches it, and neither failed for it.
        cov = summary["coverage"]
        assert cov["combined"]["percent"] >= 95, cov["combined"]
        assert cov["unit"]["percent"] < 95 and cov["integration"]["percent"] < 95, cov
