"""Annotations, job summary and outputs for passing, failing, huge and hostile results (golden files)."""

import io
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

from async_test_harness.github.annotations import BUDGET, build_annotations
from async_test_harness.github.diffcov import diff_coverage, ranges
from async_test_harness.github.markdown import COMMENT_LIMIT, JOB_SUMMARY_LIMIT, fit
from async_test_harness.github.report import report
from async_test_harness.summary.model import FileCoverage, Summary
from helpers import REPO
from reports import failure, summary, workflow_commands

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = json.loads((REPO / "docs" / "summary.schema.json").read_text())
HOSTILE = "::set-env name=PATH::/evil\n::stop-commands::x\n100% <b>bold</b> | pipe\r\n::error::fake"

CASES = {
    "passing": summary(),
    "failing": summary([
        failure("svc/tests/test_a.py::test_one"),
        failure("svc/tests/test_db.py::test_two", kind="integration", path="svc/app/db.py", line=40,
                message="ValueError: no rows", output="captured stdout line"),
        failure("svc/tests/test_db.py::test_setup", kind="integration", when="setup", line=9,
                message="RuntimeError: fixture exploded"),
    ]),
    "huge": summary([failure(f"svc/tests/test_h.py::test_{i}", message=f"AssertionError: case {i} " + "x" * 3000,
                             output="o" * 4000, line=i + 1) for i in range(2000)]),
    "hostile": summary([failure("svc/tests/test_x.py::test_" + HOSTILE, message=HOSTILE, output=HOSTILE,
                                path="svc/tests/te,st:x.py")],
                       heaviest=[{"nodeid": "svc/tests/test_x.py::test_" + HOSTILE, "statements": 7}]),
    "infrastructure": summary([failure(f"svc/tests/test_db.py::test_{i}", kind="integration",
                                       message="ConnectionRefusedError: [Errno 111]") for i in range(30)],
                              infra={"phase": "database", "message": "PostgreSQL stopped during the integration pass"}),
}


@pytest.mark.parametrize("name", CASES)
def test_cases_are_valid_summaries(name):
    jsonschema.validate(CASES[name], SCHEMA)


def run_report(name, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(CASES[name]))
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "GITHUB_OUTPUT": str(tmp_path / "out.txt")}
    out = io.StringIO()
    assert report(path, env, out) == 0
    return out.getvalue(), (tmp_path / "step.md").read_text(), (tmp_path / "out.txt").read_text()


def normalise(text):
    text = re.sub(r"::stop-commands::[0-9a-f]{32}", "::stop-commands::TOKEN", text)
    text = re.sub(r"::[0-9a-f]{32}::", "::TOKEN::", text)
    return re.sub(r"ghadelimiter_[0-9a-f]{24}", "ghadelimiter_X", text)


@pytest.mark.parametrize("name", ["passing", "failing", "hostile", "infrastructure"])
def test_golden_log_summary_and_outputs(name, tmp_path):
    log, step, outputs = (normalise(t).replace(str(tmp_path), "TMP") for t in run_report(name, tmp_path))
    golden = GOLDEN / f"{name}.txt"
    actual = f"=== log\n{log}=== job summary\n{step}=== outputs\n{outputs}"
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", newline="") as handle:
            handle.write(actual)
    with open(golden, newline="") as handle:
        assert actual == handle.read(), f"differs from {golden}; UPDATE_GOLDEN=1 to accept"




@pytest.mark.parametrize("name", CASES)
def test_untrusted_text_never_becomes_a_command(name, tmp_path):
    log, _, _ = run_report(name, tmp_path)
    for line in workflow_commands(log):
        # Our command, its properties free of ':' (so free of '::'), one line: GitHub parses the first
        # '::...::' only, and nothing a test wrote can start a line of its own.
        assert re.fullmatch(r"::(error|warning|notice)( [^:\r\n]*)?::[^\r\n]*", line), line


@pytest.mark.parametrize("name", CASES)
def test_annotation_budget_is_respected(name, tmp_path):
    log, _, _ = run_report(name, tmp_path)
    active = workflow_commands(log)
    for kind in ("error", "warning", "notice"):
        assert sum(1 for line in active if line.startswith(f"::{kind}")) <= BUDGET


def test_huge_results_fit_and_say_what_was_dropped(tmp_path):
    log, step, _ = run_report("huge", tmp_path)
    assert len(step.encode()) <= JOB_SUMMARY_LIMIT
    assert "Trimmed to fit GitHub's size limit: dropped captured output" in step
    assert "::notice title=async-test::1990 more failure(s) in the job summary" in log
    comment = fit(Summary.from_json(CASES["huge"]), COMMENT_LIMIT)
    assert len(comment) <= COMMENT_LIMIT and "Trimmed" in comment


def test_infrastructure_cause_is_one_annotation(tmp_path):
    log, _, _ = run_report("infrastructure", tmp_path)
    errors = [line for line in workflow_commands(log) if line.startswith("::error")]
    assert len(errors) == 1 and "PostgreSQL stopped" in errors[0]
    assert "30 integration failure(s) follow from the infrastructure failure" in log


def test_same_message_failures_are_grouped():
    doc = summary([failure(f"svc/t.py::test_{i}", message="KeyError: 'x'") for i in range(5)])
    errors = [a for a in build_annotations(Summary.from_json(doc)) if a.startswith("::error")]
    assert len(errors) == 1 and "5 tests failed with the same error" in errors[0]


def test_failures_in_changed_files_come_first():
    doc = summary([failure(f"svc/t{i}.py::test", path=f"svc/t{i}.py", message=f"E{i}") for i in range(15)])
    errors = [a for a in build_annotations(Summary.from_json(doc), changed={"svc/t14.py"})
              if a.startswith("::error")]
    assert "file=svc/t14.py" in errors[0] and len(errors) == BUDGET


def test_diff_coverage_ranges_and_unit_only_lines():
    files = [FileCoverage(path="svc/app.py", statements=8, percent=50.0, unit_only=(4, 5), integration_only=(),
                          both=(1, 2, 15), neither=(10, 11, 13, 20))]
    diff = diff_coverage(files, {"svc/app.py": {2, 4, 5, 10, 11, 12, 13, 20}, "README.md": {1}})
    f = diff.files[0]
    # line 12 is not a statement, so 10-13 is one range; 15 is, and it was not changed: 20 stands alone
    assert f.uncovered == [(10, 13), (20, 20)]
    assert f.unit_only == [(4, 5)] and diff.percent == 42.86  # 3 of 7 changed statements run
    warnings = [a for a in build_annotations(Summary.from_json(summary()), diff=diff) if a.startswith("::warning")]
    assert warnings[0] == ("::warning file=svc/app.py,line=10,endLine=13,title=async-test%3A coverage::"
                           "Changed lines 10-13 not run by any test.")
    assert "only run by unit tests (mocks)" in warnings[-1]
    assert ranges([1, 3], {1, 2, 3}) == [(1, 1), (3, 3)]


def test_shallow_clone_gives_a_notice_not_a_crash(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=n", "commit", "-q",
                    "--allow-empty", "-m", "only"], check=True)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 3, "base": {"sha": "1" * 40}}}))
    (tmp_path / "summary.json").write_text(json.dumps(CASES["failing"]))
    out = io.StringIO()
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_OUTPUT": str(tmp_path / "out")}
    assert report(tmp_path / "summary.json", env, out, repo=repo) == 0
    assert "::notice title=async-test::Diff coverage skipped: the base commit 111111111111 is not in this clone" in (
        out.getvalue())
    assert "fetch-depth: 0" in out.getvalue()


@pytest.mark.parametrize("name", ["failing", "hostile"])
def test_golden_comment(name):
    from async_test_harness.github.markdown import COMMENT_MARKER

    body = fit(Summary.from_json(CASES[name]), COMMENT_LIMIT, prefix=COMMENT_MARKER + "\n")
    assert body.startswith(COMMENT_MARKER) and len(body) <= COMMENT_LIMIT
    golden = GOLDEN / f"{name}.comment.md"
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", newline="") as handle:
            handle.write(body)
    with open(golden, newline="") as handle:
        assert body == handle.read(), f"differs from {golden}; UPDATE_GOLDEN=1 to accept"
