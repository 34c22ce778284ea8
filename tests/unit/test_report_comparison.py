"""The comparison with the base in the GitHub report (issue 25): job summary, sticky comment, annotations
and outputs (golden files), the "no comparison" line, and a comparison.json the tests wrote themselves."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from async_test_harness.baseline.compare import Comparison, FigureChange, FileChange, Regression, none_document
from async_test_harness.github.markdown import COMMENT_LIMIT, COMMENT_MARKER, fit
from async_test_harness.github.report import report
from async_test_harness.summary.model import Summary
from reports import failure, summary, workflow_commands

GOLDEN = Path(__file__).parent / "golden"
HOSTILE = "::warning::x\n<b>|`"

FAILING = summary([
    failure("tests/test_a.py::test_new_one"),
    failure("tests/test_db.py::test_broken_on_main", kind="integration", path="svc/tests/test_db.py", line=40,
            message="ValueError: no rows"),
])
COMPARISON = Comparison(
    base={"repository": "acme/shop", "branch": "main", "commit": "0123456789abcdef" * 2 + "01234567",
          "created_at": "2026-12-06T00:00:00+00:00"},
    coverage=(FigureChange("combined", 80.4, 80.0), FigureChange("unit", 82.1, 80.0),
              FigureChange("integration", 79.0, 80.0)),
    files=(FileChange("svc/app/orders.py", {"combined": 100.0, "unit": 90.0, "integration": 100.0},
                      {"combined": 95.0, "unit": 70.0, "integration": 100.0}),),
    added=("tests/test_a.py::test_new_one",), removed=("tests/test_a.py::test_gone",),
    new_failures=("tests/test_a.py::test_new_one",), old_failures=("tests/test_db.py::test_broken_on_main",),
    query_regressions=(Regression("tests/test_integration.py::test_list_users", 3, 41),),
    time_regressions=(Regression("tests/test_integration.py::test_slow", 0.3, 2.5),),
    flaky=("tests/test_db.py::test_sometimes",), known_flaky=("tests/test_db.py::test_broken_on_main",),
)


def normalise(text: str) -> str:
    text = re.sub(r"::stop-commands::[0-9a-f]{32}", "::stop-commands::TOKEN", text)
    text = re.sub(r"::[0-9a-f]{32}::", "::TOKEN::", text)
    return re.sub(r"ghadelimiter_[0-9a-f]{24}", "ghadelimiter_X", text)


def run_report(tmp_path: Path, comparison_doc: object) -> tuple[str, str, str]:
    (tmp_path / "summary.json").write_text(json.dumps(FAILING))
    if comparison_doc is not None:
        (tmp_path / "comparison.json").write_text(json.dumps(comparison_doc))
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "GITHUB_OUTPUT": str(tmp_path / "out.txt")}
    out = io.StringIO()
    assert report(tmp_path / "summary.json", env, out) == 0
    return (normalise(out.getvalue()), (tmp_path / "step.md").read_text(),
            normalise((tmp_path / "out.txt").read_text()).replace(str(tmp_path), "TMP"))


def check_golden(name: str, actual: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", newline="") as handle:
            handle.write(actual)
    with open(golden, newline="") as handle:
        assert actual == handle.read(), f"differs from {golden}; UPDATE_GOLDEN=1 to accept"


def test_golden_log_summary_and_outputs_with_a_comparison(tmp_path):
    log, step, outputs = run_report(tmp_path, COMPARISON.to_json())
    check_golden("compared.txt", f"=== log\n{log}=== job summary\n{step}=== outputs\n{outputs}")
    assert "(unit; new in this change)" in log and "(integration; also failing on the base; known flaky)" in log
    assert ("::warning file=svc/tests/test_integration.py,title=async-test%3A query regression::"
            "tests/test_integration.py::test_list_users executed 41 SQL statements; 3 on the base") in log
    assert "coverage-change<<ghadelimiter_X\n-0.40\n" in outputs
    assert "new-failures<<ghadelimiter_X\n1\n" in outputs and "query-regressions<<ghadelimiter_X\n1\n" in outputs
    assert "flaky<<ghadelimiter_X\n1\n" in outputs
    assert "**Flaky (1)**: failed, then passed on a re-run" in step


def test_golden_comment_with_a_comparison():
    body = fit(Summary.from_json(FAILING), COMMENT_LIMIT, prefix=COMMENT_MARKER + "\n",
               compared=(COMPARISON, None, COMPARISON.flaky))
    check_golden("compared.comment.md", body)
    assert "### Compared with the base (0123456 on main)" in body


def test_no_baseline_is_one_line_in_the_report_and_empty_outputs_but_flaky_tests_still_show(tmp_path):
    log, step, outputs = run_report(tmp_path, none_document("no baseline for main in the cache (the first run?)",
                                                           ("tests/test_db.py::test_sometimes",)))
    assert "_no comparison: no baseline for main in the cache (the first run?)_" in step
    assert "new in this change" not in log and "Compared with the base" not in step
    assert "new-failures<<ghadelimiter_X\n\nghadelimiter_X" in outputs
    assert "flaky<<ghadelimiter_X\n1\n" in outputs
    assert "- flaky: <code>tests/test\\_db.py::test\\_sometimes</code>" in step


@pytest.mark.parametrize("doc", [
    [1, 2], {"comparison_version": 1, "none": 5}, {**COMPARISON.to_json(), "failures": {"new": [{"x": 1}]}},
    {**COMPARISON.to_json(), "comparison_version": 2},
])
def test_a_comparison_the_tests_rewrote_is_one_line_not_a_failed_report(tmp_path, doc):
    log, step, _ = run_report(tmp_path, doc)
    assert "_no comparison: comparison.json is not a readable comparison" in step
    assert "::error title=async-test: report" not in log


def test_untrusted_names_in_the_comparison_never_become_commands_or_markup(tmp_path):
    hostile = Comparison(base={"branch": HOSTILE}, coverage=COMPARISON.coverage, new_failures=(HOSTILE,),
                         query_regressions=(Regression(HOSTILE, 0, 50),))
    log, step, _ = run_report(tmp_path, hostile.to_json())
    for line in workflow_commands(log):
        assert re.fullmatch(r"::(error|warning|notice)( [^:\r\n]*)?::[^\r\n]*", line), line
    assert "<b>" not in step and "\\|" in step
