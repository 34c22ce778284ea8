"""The comparison with a baseline (issue 25): its thresholds as tables, its lists, its markdown
section (golden file), and hostile baselines: one line, "no comparison: ...", never a traceback."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Dict, Optional

import pytest

from async_test_harness.baseline import BASELINE_FILE, COMPARISON_FILE, FORMAT_VERSION
from async_test_harness.baseline.command import main as compare_main
from async_test_harness.baseline.command import mismatch
from async_test_harness.baseline.compare import (
    Comparison,
    FigureChange,
    Regression,
    compare,
    coverage_line,
    figure_text,
    is_query_regression,
    is_time_regression,
    read_comparison,
    run_noise,
)
from async_test_harness.baseline.gates import GateError, Gates, parse_max_drop, verdict
from async_test_harness.baseline.markdown import SECTION_END, SECTION_START, section, with_section
from async_test_harness.baseline.store import (
    MAX_BYTES,
    Baseline,
    FileRecord,
    PassRecord,
    TestRecord,
    Unusable,
    load,
    read,
    write,
)
from reports import failure, summary

GOLDEN = Path(__file__).parent / "golden"
COUNTS = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0, "total": 0}


def baseline(tests: Dict[str, TestRecord], files: Optional[Dict[str, FileRecord]] = None,
             coverage: Optional[Dict[str, Optional[float]]] = None, **source: Optional[str]) -> Baseline:
    return Baseline(
        tool_version="0.1.0", created_at="2026-12-06T00:00:00+00:00",
        source={"repository": "acme/shop", "branch": "main", "commit": "a" * 40, "path_in_repo": "",
                "started_at": "2026-12-06T00:00:00+00:00", "duration_seconds": 10.0, **source},
        exit_code=0, exit_name="ok",
        passes={k: PassRecord("passed", 1.0, dict(COUNTS)) for k in ("unit", "integration")},
        coverage=coverage or {"unit": 60.0, "integration": 70.0, "combined": 80.0},
        files=files or {}, tests=tests,
    )


def t(outcome: str = "passed", seconds: float = 0.01, statements: int = 0, kind: str = "unit") -> TestRecord:
    return TestRecord(kind, outcome, seconds, statements)


# ------------------------------------------------------------------ thresholds, as tables


@pytest.mark.parametrize("before, after, regression", [
    (3, 40, True),    # the N+1 loop
    (0, 5, True),     # a test that ran none now runs 5
    (0, 4, False),    # +4 is below the +5 floor
    (3, 7, False),    # x2.3 but only +4: a fixture's noise
    (5, 10, False),   # exactly x2 is not beyond x2
    (5, 11, True),
    (10, 19, False),  # +9 but under x2
    (40, 3, False),   # fewer is never a regression
    (7, 7, False),
])
def test_query_regression_needs_both_the_ratio_and_the_added_statements(before, after, regression):
    assert is_query_regression(before, after) is regression


@pytest.mark.parametrize("before, after, noise, regression", [
    (0.2, 3.0, 1.0, True),     # 15x and +2.8 s
    (0.01, 0.4, 1.0, False),   # 40x but +0.39 s: millisecond tests swing that much on a shared runner
    (1.0, 1.9, 1.0, False),    # +0.9 s but under 2x
    (1.0, 2.6, 1.0, True),
    (1.0, 2.6, 1.5, False),    # the whole run was 1.5x slower: 2.6 < 1.5 x 2
    (1.0, 3.1, 1.5, True),
    (0.3, 0.75, 1.0, False),   # 2.5x but +0.45 s
])
def test_time_regression_is_beyond_ratio_floor_and_the_runs_noise(before, after, noise, regression):
    assert is_time_regression(before, after, noise) is regression


def test_run_noise_is_the_median_ratio_of_measurable_tests_and_never_below_one():
    base = baseline({f"t{i}": t(seconds=1.0) for i in range(5)} | {"fast": t(seconds=0.001)})
    slower = baseline({f"t{i}": t(seconds=3.0 if i < 3 else 2.0) for i in range(5)} | {"fast": t(seconds=0.5)})
    assert run_noise(base, slower) == 3.0  # "fast" is under the floor on the base and left out
    faster = baseline({f"t{i}": t(seconds=0.5) for i in range(5)})
    assert run_noise(base, faster) == 1.0
    assert run_noise(base, baseline({})) == 1.0
    few = baseline({f"t{i}": t(seconds=1.0) for i in range(4)})
    assert run_noise(few, baseline({n: t(seconds=9.0) for n in few.tests})) == 1.0  # too few to tell


def test_a_uniformly_slower_runner_reports_no_time_regression():
    base = baseline({f"t{i}": t(seconds=0.4 + i / 10) for i in range(10)})
    head = baseline({n: dataclasses.replace(r, seconds=r.seconds * 3.5) for n, r in base.tests.items()})
    assert compare(base, head).time_regressions == ()
    # ...but one test slower than the rest by far still is
    tests = dict(head.tests, t0=t(seconds=0.4 * 3.5 * 4))
    assert [r.nodeid for r in compare(base, baseline(tests)).time_regressions] == ["t0"]


@pytest.mark.parametrize("before, after, text", [
    (86.8, 87.2, "87.2 % (+0.4)"),
    (63.1, 61.0, "61.0 % (-2.1)"),
    (80.0, 80.01, "80.0 % (±0.0)"),
    (None, 50.0, "50.0 % (new)"),
    (50.0, None, "- (was 50.0 %)"),
    (None, None, "-"),
])
def test_figure_text(before, after, text):
    assert figure_text(FigureChange("unit", before, after)) == text


# ------------------------------------------------------------------ what the comparison lists


def test_failures_are_split_into_new_and_also_failing_on_the_base():
    base = baseline({"a": t("failed"), "b": t("passed"), "c": t("error"), "gone": t("failed")})
    head = baseline({"a": t("failed"), "b": t("error"), "c": t("failed"), "new": t("failed"), "ok": t()})
    c = compare(base, head)
    assert c.new_failures == ("b", "new")
    assert c.old_failures == ("a", "c")
    assert (c.added, c.removed) == (("new", "ok"), ("gone",))


def test_query_and_time_regressions_list_before_and_after():
    base = baseline({"n_plus_one": t(statements=3), "same": t(statements=3), "slow": t(seconds=0.2),
                     "failed": t("failed", seconds=0.1)})
    head = baseline({"n_plus_one": t(statements=40), "same": t(statements=4), "slow": t(seconds=2.0),
                     "failed": t(seconds=5.0), "added": t(statements=99)})
    c = compare(base, head)
    assert [(r.nodeid, r.before, r.after) for r in c.query_regressions] == [("n_plus_one", 3, 40)]
    # a test that failed on the base is not timed against it (a failure ends early)
    assert [(r.nodeid, r.before, r.after) for r in c.time_regressions] == [("slow", 0.2, 2.0)]


def test_coverage_change_combined_per_pass_and_per_file_that_moved():
    base = baseline({}, files={"app/a.py": FileRecord(10, 6, 8, 9), "app/same.py": FileRecord(4, 4, 0, 4),
                               "app/gone.py": FileRecord(2, 2, 2, 2)},
                    coverage={"unit": 63.1, "integration": 70.0, "combined": 86.8})
    head = baseline({}, files={"app/a.py": FileRecord(10, 4, 8, 9), "app/same.py": FileRecord(4, 4, 0, 4),
                               "app/new.py": FileRecord(5, 5, 0, 5)},
                    coverage={"unit": 61.0, "integration": 70.0, "combined": 87.2})
    c = compare(base, head)
    assert coverage_line(c) == "combined 87.2 % (+0.4), unit 61.0 % (-2.1), integration 70.0 % (±0.0)"
    assert [f.path for f in c.files] == ["app/a.py", "app/gone.py", "app/new.py"]
    moved = c.files[0]
    assert (moved.before["unit"], moved.after["unit"], moved.after["combined"]) == (60.0, 40.0, 90.0)
    assert c.files[1].after == {"combined": None, "unit": None, "integration": None}


def test_two_identical_runs_report_nothing():
    files = {"app/a.py": FileRecord(10, 6, 8, 9)}
    base = baseline({"a": t(statements=3, seconds=0.3), "b": t("failed")}, files=files)
    c = compare(base, base)
    assert (c.added, c.removed, c.new_failures, c.query_regressions, c.time_regressions, c.files) == (
        (), (), (), (), (), ())
    assert c.old_failures == ("b",)


# ------------------------------------------------------------------ the markdown section (golden)


def golden_comparison() -> Comparison:
    base = baseline(
        {"tests/test_api.py::test_list_orders": t(statements=3, kind="integration"),
         "tests/test_api.py::test_also_broken": t("failed"),
         "tests/test_api.py::test_slow": t(seconds=0.3),
         "tests/test_api.py::test_removed": t()},
        files={"app/orders.py": FileRecord(20, 12, 18, 19)},
        coverage={"unit": 63.1, "integration": 90.0, "combined": 95.0})
    head = baseline(
        {"tests/test_api.py::test_list_orders": t(statements=41, kind="integration"),
         "tests/test_api.py::test_also_broken": t("failed"),
         "tests/test_api.py::test_slow": t(seconds=2.5),
         "tests/test_api.py::test_new|pipe`tick<b>": t("failed")},
        files={"app/orders.py": FileRecord(20, 10, 18, 18)},
        coverage={"unit": 61.0, "integration": 90.0, "combined": 90.0})
    return compare(base, head)


def test_golden_section():
    text = "\n".join(section(golden_comparison())) + "\n"
    golden = GOLDEN / "comparison.section.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"differs from {golden}; UPDATE_GOLDEN=1 to accept"


def test_long_lists_are_cut_and_say_how_many_were_left_out():
    base = baseline({})
    head = baseline({f"t{i:04}": t("failed") for i in range(2000)})
    lines = section(compare(base, head), rows=20)
    assert "- … and 1980 more" in lines
    assert len("\n".join(lines)) < 5000


def test_with_section_replaces_its_own_section_and_keeps_the_rest():
    once = with_section("# summary\n\nbody\n", ["one"])
    twice = with_section(once, ["two"])
    assert twice == f"# summary\n\nbody\n\n{SECTION_START}\ntwo\n{SECTION_END}\n"


def test_comparison_json_round_trips_and_refuses_anything_else():
    c = golden_comparison()
    assert Comparison.from_json(json.loads(json.dumps(c.to_json()))) == c
    for bad in (None, [], {"comparison_version": 99}, {**c.to_json(), "files": "x"},
                {**c.to_json(), "noise": float("nan")}, {**c.to_json(), "coverage": {}}):
        with pytest.raises(ValueError):
            Comparison.from_json(bad)


# ------------------------------------------------------------------ the baseline file and hostile input


def test_baseline_round_trips_and_leaves_other_files_alone(tmp_path):
    stored = baseline({"x::y": t(statements=2, seconds=0.25)}, files={"a.py": FileRecord(3, 1, 2, 3)})
    (tmp_path / "testmap.json").write_text("{}")
    write(tmp_path, stored)
    assert load(tmp_path) == dataclasses.replace(stored, flaky_history=stored.history())  # its own run's
    assert (tmp_path / "testmap.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_later_versions_extra_row_elements_and_keys_are_ignored(tmp_path):
    doc = good_document()
    doc["tests"]["x::y"] += [1, "a later version's"]  # the fifth: flaky; the sixth: unknown, ignored
    doc["coverage"]["files"]["a.py"].append(99)
    doc["flaky_history"] = {}
    (tmp_path / BASELINE_FILE).write_text(json.dumps(doc))
    assert read(tmp_path / BASELINE_FILE).tests["x::y"] == dataclasses.replace(t(), flaky=True)


def good_document() -> dict:
    return baseline({"x::y": t()}, files={"a.py": FileRecord(3, 1, 2, 3)}).to_json()


@pytest.mark.parametrize("change, reason", [
    (lambda d: {**d, "format_version": FORMAT_VERSION + 1}, f"format version {FORMAT_VERSION + 1}"),
    (lambda d: {**d, "format_version": "1"}, "format version '1'"),
    (lambda d: {**d, "format": "codecov"}, "not an async-test baseline"),
    (lambda d: [d], "not an async-test baseline"),
    (lambda d: {k: v for k, v in d.items() if k != "tests"}, "damaged baseline"),
    (lambda d: {**d, "tests": {"x": ["unit", "exploded", 0, 0]}}, "damaged baseline"),
    (lambda d: {**d, "tests": {"x": ["unit", "passed", -1, 0]}}, "damaged baseline"),
    (lambda d: {**d, "tests": {"x": ["unit", "passed", 0]}}, "damaged baseline"),
    (lambda d: {**d, "tests": {"x": "unit"}}, "damaged baseline"),
    (lambda d: {**d, "coverage": {**d["coverage"], "files": {"a": [1, 2, 3]}}}, "damaged baseline"),
    (lambda d: {**d, "tests": []}, "damaged baseline"),
    (lambda d: {**d, "coverage": {**d["coverage"], "combined": 101}}, "damaged baseline"),
    (lambda d: {**d, "coverage": {**d["coverage"], "files": {"a": [1, 2, True, 3]}}}, "damaged baseline"),
    (lambda d: {**d, "passes": {"unit": {}}}, "damaged baseline"),
    (lambda d: {**d, "source": "x"}, "damaged baseline"),
])
def test_a_hostile_document_is_one_reason(tmp_path, change, reason):
    path = tmp_path / BASELINE_FILE
    path.write_text(json.dumps(change(good_document())))
    with pytest.raises(Unusable, match=reason) as caught:
        read(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_bytes(b"\xff\xfe not json"), "is not JSON"),
    (lambda p: p.write_text('{"format": NaN}'), "is not JSON"),
    (lambda p: p.write_text(""), "is not JSON"),
    (lambda p: os.mkfifo(p), "named pipe"),
    (lambda p: p.mkdir(), "is a folder, not a file"),
    (lambda p: os.truncate(p.open("w").name, MAX_BYTES + 1), "larger than the 64 MiB"),
])
def test_a_hostile_file_is_one_reason_and_a_fifo_is_not_waited_on(tmp_path, make, reason):
    path = tmp_path / BASELINE_FILE
    make(path)
    with pytest.raises(Unusable, match=reason):
        read(path)


def head_results(tmp_path: Path) -> Path:
    """A results folder of the runner's shape: summary.json (as the report tests make it), summary.md."""
    results = tmp_path / "head"
    results.mkdir()
    (results / "summary.json").write_text(json.dumps(summary([failure("svc/tests/test_a.py::test_one")])))
    (results / "summary.md").write_text("# async-test\n")
    (results / "events-unit.jsonl").write_text(json.dumps({
        "type": "test", "nodeid": "svc/tests/test_a.py::test_one", "when": "call", "outcome": "failed",
        "duration": 0.5, "kind": "unit"}) + "\n")
    return results


@pytest.mark.parametrize("make_base, reason", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "holds no summary.json"),
    (lambda d: (d.mkdir(), (d / BASELINE_FILE).write_text(json.dumps({**good_document(), "format_version": 0}))),
     "format version 0"),
    (lambda d: (d.mkdir(), os.mkfifo(d / BASELINE_FILE)), "named pipe"),
    (lambda d: (d.mkdir(), write(d, baseline({"x::y": t()}, repository="someone/else", path_in_repo="svc"))),
     "repository someone/else"),
    (lambda d: (d.mkdir(), write(d, baseline({"x::y": t()}, files={"z.py": FileRecord(1, 1, 1, 1)},
                                             repository=None, path_in_repo="svc"))), "shares no test"),
])
def test_compare_with_a_hostile_baseline_says_one_line_and_exits_0(tmp_path, monkeypatch, make_base, reason):
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")  # the head's, as the action's report step has it
    head = head_results(tmp_path)
    (head / COMPARISON_FILE).write_text("{}")  # a stale comparison is replaced, not reported
    base = tmp_path / "base"
    make_base(base)
    out = io.StringIO()
    assert compare_main([str(base), str(head)], out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("async-test: no comparison: ") and reason in lines[0], lines
    assert read_comparison(head) == (None, lines[0].removeprefix("async-test: no comparison: "), ())
    assert "no comparison: " in (head / "summary.md").read_text()


def test_compare_with_a_head_that_is_no_results_folder_is_a_usage_error(tmp_path):
    out = io.StringIO()
    assert compare_main([str(tmp_path), str(tmp_path / "nothing")], out) == 2
    assert "is not usable" in out.getvalue() and len(out.getvalue().splitlines()) == 1


def test_mismatch_by_folder_in_repository():
    assert mismatch(baseline({}, path_in_repo="backend"), baseline({})) is not None
    assert mismatch(baseline({"a": t()}), baseline({"a": t()})) is None


# ------------------------------------------------------------------ gates


def gate_comparison(new=(), old=(), combined=(80.0, 80.0), unit=(60.0, 60.0), queries=0) -> Comparison:
    return Comparison(
        base={}, coverage=(FigureChange("combined", *combined), FigureChange("unit", *unit),
                           FigureChange("integration", None, 50.0)),
        new_failures=tuple(new), old_failures=tuple(old),
        query_regressions=tuple(Regression(f"q{i}", 1, 50) for i in range(queries)))


ALL = Gates("new", {"combined": 1.0, "unit": 1.0}, fail_on_query_regressions=True, fail_on_flaky=True)


@pytest.mark.parametrize("run_code, comparison, gates, flaky, code, said", [
    # fail-on: new keeps a job green when only pre-existing failures remain, and says so loudly
    (1, gate_comparison(old=["a"]), Gates("new"), [], 0, "PASSING DESPITE 1 FAILING TEST(S)"),
    (1, gate_comparison(new=["b"], old=["a"]), Gates("new"), [], 1, "failed: 1 new failure (--fail-on new)"),
    (1, None, Gates("new"), [], 1, "no baseline to tell new failures from old ones"),
    (1, gate_comparison(old=["a"]), Gates("any"), [], 1, ""),  # no gate: no verdict line
    (3, gate_comparison(old=["a"]), Gates("new"), [], 3, "failed: the run's own exit 3 (infrastructure)"),
    # the coverage drop: per figure or every figure, beyond the points given
    (0, gate_comparison(combined=(80.0, 79.0)), Gates(max_drop={"combined": 0.5}), [], 4,
     "failed: combined coverage dropped 1.00 points (limit 0.5)"),
    (0, gate_comparison(combined=(80.0, 79.6)), Gates(max_drop={"combined": 0.5}), [], 0, ""),
    (0, gate_comparison(unit=(60.0, 50.0)), Gates(max_drop={"combined": 0.5}), [], 0, ""),
    (0, gate_comparison(unit=(60.0, 50.0)), Gates(max_drop=dict.fromkeys(("combined", "unit", "integration"), 2)),
     [], 4, "failed: unit coverage dropped 10.00 points (limit 2)"),
    (0, None, Gates(max_drop={"combined": 0}), [], 0, ""),  # nothing to compare with: nothing dropped
    # query regressions
    (0, gate_comparison(queries=2), Gates(fail_on_query_regressions=True), [], 7, "failed: 2 query regressions"),
    (0, gate_comparison(queries=2), Gates(), [], 0, ""),
    # flaky
    (0, None, Gates(fail_on_flaky=True), ["f"], 1, "failed: 1 flaky test (--fail-on-flaky)"),
    (0, gate_comparison(), Gates(fail_on_flaky=True), ["f", "g"], 1, "failed: 2 flaky tests (--fail-on-flaky)"),
    # fail-on new turned a failing run green: the other gates still apply
    (1, gate_comparison(old=["a"], queries=1), Gates("new", fail_on_query_regressions=True), [], 7,
     "PASSING DESPITE 1 FAILING TEST(S): every one also fails on the base, and fail-on is new. Fix them on the "
     "base branch. failed: 1 query regression"),
    # several gates: every one is named with its figures; the code is the run's, else coverage > queries > flaky
    (1, gate_comparison(new=["b", "c"], combined=(80.0, 77.7), unit=(60.0, 58.5), queries=1), ALL, ["f"], 1,
     "failed: 2 new failures (--fail-on new); combined coverage dropped 2.30 points (limit 1); unit coverage "
     "dropped 1.50 points (limit 1); 1 query regression; 1 flaky test (--fail-on-flaky)"),
    (0, gate_comparison(combined=(80.0, 77.7), queries=3), ALL, ["f"], 4,
     "failed: combined coverage dropped 2.30 points (limit 1); 3 query regressions; 1 flaky test (--fail-on-flaky)"),
    (0, gate_comparison(queries=3), ALL, ["f"], 7, "failed: 3 query regressions; 1 flaky test (--fail-on-flaky)"),
    (1, gate_comparison(new=["b"], old=["a"], combined=(80.0, 77.7)), Gates(max_drop={"combined": 1.0}), [], 1,
     "failed: 2 failing tests (1 new, 1 also failing on the base); combined coverage dropped 2.30 points (limit 1)"),
    (1, None, Gates(max_drop={"combined": 1.0}, fail_on_flaky=True), ["f"], 1,
     "failed: tests failed; 1 flaky test (--fail-on-flaky)"),
    (4, gate_comparison(queries=1), Gates(fail_on_query_regressions=True), [], 4,
     "failed: the run's own exit 4 (coverage threshold); 1 query regression"),
    (1, gate_comparison(old=["a"], combined=(80.0, 77.7), queries=1), ALL, ["f"], 4,
     "PASSING DESPITE 1 FAILING TEST(S): every one also fails on the base, and fail-on is new. Fix them on the "
     "base branch. failed: combined coverage dropped 2.30 points (limit 1); 1 query regression; 1 flaky test"),
    (0, gate_comparison(), ALL, [], 0, ""),
])
def test_gates(run_code, comparison, gates, flaky, code, said):
    got, lines = verdict(run_code, comparison, gates, flaky)
    assert got == code
    assert (said in " ".join(lines)) if said else lines == []
    if code != 0 and gates.any_set:
        assert lines[-1].startswith("failed: ") and len([n for n in lines if n.startswith("failed: ")]) == 1


@pytest.mark.parametrize("text, drops", [
    ("1", {"combined": 1.0, "unit": 1.0, "integration": 1.0}),
    ("combined=0.5, unit=2", {"combined": 0.5, "unit": 2.0}),
    ("", {}),
])
def test_max_coverage_drop_spellings(text, drops):
    assert parse_max_drop(text) == drops


@pytest.mark.parametrize("text", ["x", "combined=", "total=1", "-1", "101", "combined=nan"])
def test_max_coverage_drop_refuses_with_the_fix(text):
    with pytest.raises(GateError, match=r"e\.g\. combined=0\.5,unit=2"):
        parse_max_drop(text)


def test_compare_with_fail_on_new_exits_0_when_every_failure_also_fails_on_the_base(tmp_path):
    head = head_results(tmp_path)
    base = tmp_path / "base"
    write(base, baseline({"svc/tests/test_a.py::test_one": t("failed")}, path_in_repo="svc", repository=None))
    out = io.StringIO()
    assert compare_main([str(base), str(head), "--fail-on", "new"], out) == 0
    assert "PASSING DESPITE 1 FAILING TEST(S)" in out.getvalue()
    assert "PASSING DESPITE" in (head / "summary.md").read_text()
    assert compare_main([str(base), str(head)], io.StringIO()) == 0  # no gate asked: exit 0 anyway
    out = io.StringIO()
    assert compare_main([str(tmp_path / "nothing"), str(head), "--fail-on", "new", "--missing",
                         "no baseline of main in the cache"], out) == 1
    assert "no comparison: no baseline of main in the cache" in out.getvalue()
    assert compare_main([str(base), str(head), "--max-coverage-drop", "lots"], io.StringIO()) == 2


@pytest.mark.parametrize("make, reason", [
    (lambda p: os.mkfifo(p), "named pipe"),
    (lambda p: p.write_text("[" * 100000 + "]" * 100000), "not a readable async-test summary"),
    (lambda p: p.write_text(json.dumps({**summary(), "schema_version": 2})), "schema_version is not 1"),
    (lambda p: p.write_text(json.dumps({**summary(), "tool": {"name": "codecov", "version": "1"}})),
     "not written by async-test"),
    (lambda p: p.write_text(json.dumps({**summary(), "passes": {}})), "not a readable async-test summary"),
    (lambda p: p.write_text(json.dumps({**summary(), "coverage": {"unit": {"percent": "high"}}})),
     "not a readable async-test summary"),
])
def test_a_hostile_results_folder_is_one_reason(tmp_path, make, reason):
    make(tmp_path / "summary.json")
    with pytest.raises(Unusable, match=reason) as caught:
        load(tmp_path)
    assert "\n" not in str(caught.value)


def test_a_broken_events_line_costs_that_line_only(tmp_path):
    head = head_results(tmp_path)
    good = (head / "events-unit.jsonl").read_text()
    other = good.replace("test_one", "test_two").replace('"failed"', '"passed"')
    (head / "events-unit.jsonl").write_text(good + '{"type": "test", "nodeid": "x::y", "wh' + "\n" + other)
    assert sorted(load(head).tests) == ["svc/tests/test_a.py::test_one", "svc/tests/test_a.py::test_two"]


def test_a_test_id_with_a_newline_cannot_start_a_workflow_command_in_the_log(tmp_path):
    head = head_results(tmp_path)
    nodeid = "svc/tests/test_a.py::test_x\n::error::injected\r::warning::too"
    with open(head / "events-unit.jsonl", "a") as events:
        events.write(json.dumps({"type": "test", "nodeid": nodeid, "when": "call", "outcome": "failed",
                                 "duration": 0.1, "kind": "unit"}) + "\n")
    base = tmp_path / "base"
    write(base, baseline({"svc/tests/test_a.py::test_one": t()}, path_in_repo="svc", repository=None))
    out = io.StringIO()
    assert compare_main([str(base), str(head), "--fail-on", "new"], out) == 1
    lines = out.getvalue().splitlines()
    assert lines and all(line.startswith("async-test: ") for line in lines), lines
    assert any("test_x ::error::injected ::warning::too" in line for line in lines)


def test_flaky_tests_are_listed_with_or_without_a_base_and_fail_the_job_only_when_asked(tmp_path):
    head = head_results(tmp_path)
    with open(head / "events-unit.jsonl", "a") as events:
        events.write(json.dumps({"type": "test", "nodeid": "svc/tests/test_a.py::test_sometimes", "when": "call",
                                 "outcome": "passed", "duration": 0.1, "kind": "unit",
                                 "flaky": "AssertionError: first attempt fails"}) + "\n")
    assert load(head).tests["svc/tests/test_a.py::test_sometimes"].flaky
    out = io.StringIO()
    assert compare_main([str(tmp_path / "none"), str(head)], out) == 0
    assert "flaky (failed, then passed on its re-run): svc/tests/test_a.py::test_sometimes" in out.getvalue()
    assert read_comparison(head)[2] == ("svc/tests/test_a.py::test_sometimes",)
    base = tmp_path / "base"
    write(base, baseline({"svc/tests/test_a.py::test_one": t("failed")}, path_in_repo="svc", repository=None))
    assert compare_main([str(base), str(head)], io.StringIO()) == 0
    comparison = read_comparison(head)[0]
    assert comparison is not None and comparison.flaky == ("svc/tests/test_a.py::test_sometimes",)
    assert "**Flaky (1)**" in (head / "summary.md").read_text()
    stored = tmp_path / "stored"
    write(stored, load(head))
    assert load(stored).tests["svc/tests/test_a.py::test_sometimes"].flaky  # kept in the baseline too


@pytest.mark.parametrize("run_code, flaky, gates, code", [
    (0, ["f"], Gates(fail_on_flaky=True), 1),
    (0, ["f"], Gates(), 0),
    (0, [], Gates(fail_on_flaky=True), 0),
    (1, ["f"], Gates(fail_on_flaky=True), 1),
])
def test_the_flaky_gate(run_code, flaky, gates, code):
    assert verdict(run_code, None, gates, flaky)[0] == code


def test_a_baseline_stored_on_a_laptop_names_the_commit_git_is_on(tmp_path: Path) -> None:
    """Outside GitHub Actions (no GITHUB_SHA) the baseline said "compared with the baseline", not with
    which commit: the repository's HEAD and branch are read instead; without git, nothing."""
    import subprocess

    from async_test_harness.baseline.store import source_from_git

    assert source_from_git(tmp_path) == {}  # not a repository
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], check=True)
    assert source_from_git(tmp_path) == {"branch": "trunk"}  # no commit yet
    (tmp_path / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert source_from_git(tmp_path) == {"commit": head, "branch": "trunk"}


def test_a_warm_up_that_moved_to_another_test_is_no_time_regression():
    """pytest-randomly moves the first request's warm-up from one test to another: no test is slower."""
    base = baseline({"api_get": t(seconds=1.09), "api_post": t(seconds=0.02), "other": t(seconds=0.1)})
    moved = baseline({"api_get": t(seconds=0.03), "api_post": t(seconds=0.70), "other": t(seconds=0.1)})
    assert compare(base, moved).time_regressions == ()
    slower = baseline({"api_get": t(seconds=1.09), "api_post": t(seconds=0.70), "other": t(seconds=0.1)})
    assert [r.nodeid for r in compare(base, slower).time_regressions] == ["api_post"]
