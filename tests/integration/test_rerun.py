"""A failed test runs once more, at once (issue 25, plugin/rerun.py): a pass on the re-run is reported
passed and marked flaky in the events file; two failures are one failure; the setting turns it off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

FLAKY = '''
from pathlib import Path

import pytest
from sqlalchemy import text

ATTEMPTS = Path(__file__).parent / "attempts"


def attempt(name):
    ATTEMPTS.mkdir(exist_ok=True)
    marker = ATTEMPTS / name
    count = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(count))
    return count


async def test_fails_once_in_the_database(async_db_session):
    """The first attempt's row is gone on the re-run: a fresh transaction."""
    await async_db_session.execute(text("CREATE TABLE IF NOT EXISTS seen (n int)"))
    await async_db_session.execute(text("INSERT INTO seen VALUES (1)"))
    assert await async_db_session.scalar(text("SELECT count(*) FROM seen")) == 1
    assert attempt("db") > 1, "first attempt fails"


def test_fails_once():
    assert attempt("unit") > 1, "first attempt fails"


def test_always_fails():
    attempt("always")
    assert False, "every time"


@pytest.fixture
def broken():
    attempt("setup")
    raise RuntimeError("set-up fails")


def test_setup_fails(broken):
    pass


@pytest.mark.xfail(reason="expected")
def test_expected_failure():
    attempt("xfail")
    assert False


def test_passes():
    attempt("passes")
'''


def events_of(path: Path) -> List[Dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_failed_test_runs_once_more_and_a_pass_is_flaky(pytester, run_pytest, monkeypatch):
    events = pytester.path / "events.jsonl"
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(events))
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_flaky=FLAKY)
    result = run_pytest("-v", "--junitxml", str(pytester.path / "junit.xml"))
    result.assert_outcomes(passed=3, failed=1, errors=1, xfailed=1)
    attempts = {p.name: int(p.read_text()) for p in (pytester.path / "attempts").iterdir()}
    assert attempts == {"db": 2, "unit": 2, "always": 2, "setup": 1, "xfail": 1, "passes": 1}
    flaky = {e["nodeid"].split("::")[-1]: e["flaky"] for e in events_of(events) if e.get("flaky")}
    statements = {e["nodeid"].split("::")[-1]: e["statements"] for e in events_of(events) if e.get("statements")}
    assert statements == {"test_fails_once_in_the_database": 3}, "the re-run's own statements, not both attempts'"
    assert flaky == {"test_fails_once_in_the_database": "AssertionError: first attempt fails",
                     "test_fails_once": "AssertionError: first attempt fails"}, flaky
    # Only the last attempt is reported: one line per test in the terminal and in JUnit.
    assert sum("test_fails_once " in line or line.endswith("test_fails_once PASSED") for line in
               result.stdout.lines if "::test_fails_once" in line) == 1
    assert (pytester.path / "junit.xml").read_text().count('name="test_fails_once"') == 1


def test_the_setting_turns_the_re_run_off(pytester, run_pytest, monkeypatch):
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(pytester.path / "events.jsonl"))  # as under async-test run
    monkeypatch.setenv("ASYNC_TEST_RERUN_FAILURES", "false")
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_flaky=FLAKY)
    run_pytest().assert_outcomes(passed=1, failed=3, errors=1, xfailed=1)
    assert int((pytester.path / "attempts" / "unit").read_text()) == 1


def test_plain_pytest_never_re_runs_a_failed_test(pytester, run_pytest):
    """Installing (or configuring) the harness changes no outcome of a plain pytest run: the re-run is
    async-test run's (it sets ASYNC_TEST_EVENTS), and a developer's pytest shows every failure as it is."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_flaky=FLAKY)
    run_pytest().assert_outcomes(passed=1, failed=3, errors=1, xfailed=1)
    assert int((pytester.path / "attempts" / "unit").read_text()) == 1


def test_x_stops_at_a_failure_that_fails_again_not_at_a_flaky_one(pytester, run_pytest, monkeypatch):
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(pytester.path / "events.jsonl"))  # as under async-test run
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_flaky=FLAKY)
    result = run_pytest("-x", "-k", "fails_once or always or passes")
    result.assert_outcomes(passed=2, failed=1)  # test_passes, after test_always_fails, does not run


def test_async_test_run_says_which_tests_were_flaky_without_a_baseline(tmp_path, pg_cluster):
    """A new user's trial: a flaky test was green with no word of it unless a comparison ran; every
    report (console, summary.md, summary.json, so the job summary and the comment) now says so."""
    import os
    import subprocess
    import sys

    from helpers import write_files

    project = write_files(tmp_path / "svc", {
        "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
        "tests/unit/test_flaky.py": ("ATTEMPTS = []\n\n\ndef test_fails_once():\n    ATTEMPTS.append(1)\n"
                                     "    assert len(ATTEMPTS) > 1, 'first attempt fails'\n"),
    })
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNC_TEST_", "PYTEST_"))}
    env["ASYNC_TEST_PG_CLUSTER"] = pg_cluster
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                           str(results), "--no-coverage"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    line = ("flaky: tests/unit/test_flaky.py::test_fails_once failed, then passed on its re-run "
            "(AssertionError: first attempt fails")
    assert line in done.stdout
    assert line in (results / "summary.md").read_text()
    warnings = json.loads((results / "summary.json").read_text())["passes"]["unit"]["warnings"]
    assert any(w.startswith(line) for w in warnings), warnings
