"""Known-flaky tests (issue 25): the flaky history a baseline carries, merged at store time from the
previous baseline (keyed by commit, at most FLAKY_HISTORY_RUNS runs), the known-flaky rule, the
comparison's labels and section, and hostile histories: ignored in one line, never a traceback."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from test_baseline_compare import baseline, head_results, t

from async_test_harness.baseline import BASELINE_FILE, FLAKY_HISTORY_RUNS, KNOWN_FLAKY_RUNS, MAX_HISTORY_IDS
from async_test_harness.baseline.command import main as compare_main
from async_test_harness.baseline.compare import Comparison, compare, console_lines, read_comparison
from async_test_harness.baseline.markdown import section
from async_test_harness.baseline.store import Baseline, HistoryRun, known_flaky, read, with_history, write
from async_test_harness.github.report import _comparison_outputs

FLAKY = "svc/tests/test_a.py::test_sometimes"


def run(commit: Optional[str], *flaky: str) -> Baseline:
    """A baseline of one run at ``commit`` whose ``flaky`` tests failed, then passed."""
    tests = {n: dataclasses.replace(t(), flaky=True) for n in flaky}
    return baseline({"x::steady": t(), **tests}, commit=commit)


def test_each_stored_baseline_carries_the_last_runs_newest_first_and_a_commit_counts_once():
    history = None
    for commit, flaky in (("c1", ["a"]), ("c2", []), ("c3", ["a", "b"])):
        history = with_history(run(commit, *flaky), history)
    assert history is not None
    assert [(r.commit, r.flaky) for r in history.history()] == [("c3", ("a", "b")), ("c2", ()), ("c1", ("a",))]
    assert known_flaky(history.history()) == ("a",)
    again = with_history(run("c3", "b"), history)  # the same commit stored again: its newer entry, once
    assert [(r.commit, r.flaky) for r in again.history()] == [("c3", ("b",)), ("c2", ()), ("c1", ("a",))]
    assert known_flaky(again.history()) == ()
    unknown = with_history(run(None, "a"), with_history(run(None, "a"), None))  # no commit: each run counts
    assert known_flaky(unknown.history()) == ("a",)


def test_the_history_keeps_the_last_runs_only():
    history = None
    for n in range(FLAKY_HISTORY_RUNS + 3):
        history = with_history(run(f"c{n}", "old" if n < 3 else "x"), history)
    assert history is not None and len(history.history()) == FLAKY_HISTORY_RUNS
    assert history.history()[0].commit == f"c{FLAKY_HISTORY_RUNS + 2}"
    assert known_flaky(history.history()) == ("x",)  # "old" was flaky in runs no longer kept


@pytest.mark.parametrize("flaky_in, known", [
    (0, False), (1, False), (KNOWN_FLAKY_RUNS - 1, False), (KNOWN_FLAKY_RUNS, True), (FLAKY_HISTORY_RUNS, True),
])
def test_known_flaky_is_flaky_in_at_least_the_documented_number_of_runs(flaky_in, known):
    history = [HistoryRun(f"c{n}", "", ("a",) if n < flaky_in else ()) for n in range(FLAKY_HISTORY_RUNS)]
    history[0] = HistoryRun("c0", "", history[0].flaky * 3)  # listed thrice in one run: still one run
    assert (known_flaky(history) == ("a",)) is known


def test_the_history_round_trips_and_a_baseline_without_it_is_its_own_run(tmp_path):
    stored = with_history(run("c2", "a"), run("c1", "a"))
    write(tmp_path, stored)
    assert read(tmp_path / BASELINE_FILE).history() == stored.history()
    doc = json.loads((tmp_path / BASELINE_FILE).read_text())
    assert doc["flaky_history"][1] == {"commit": "c1", "created_at": "2026-12-06T00:00:00+00:00", "flaky": ["a"]}
    del doc["flaky_history"]  # stored before the history existed
    (tmp_path / BASELINE_FILE).write_text(json.dumps(doc))
    older = read(tmp_path / BASELINE_FILE)
    assert older.history_note is None and [(r.commit, r.flaky) for r in older.history()] == [("c2", ("a",))]


def _doc(history: Any) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        doc = run("c1", "a").to_json()
        doc["flaky_history"] = history
        path.write_text(json.dumps(doc))
    return make


@pytest.mark.parametrize("history, reason", [
    ({"c1": ["a"]}, "is not a list (dict)"),
    ("a", "is not a list (str)"),
    ([["a"]], "run 0 is not an object"),
    ([{"commit": "c1", "created_at": "", "flaky": ["a", 7]}], "run 0 lists a test id that is not text"),
    ([{"commit": "c1", "created_at": "", "flaky": [{"a": 1}]}], "run 0 lists a test id that is not text"),
    ([{"commit": "c1", "created_at": "", "flaky": "a"}], "run 0 has no list of flaky tests"),
    ([{"commit": 12, "created_at": "", "flaky": []}], "run 0 has no usable commit"),
    ([{"commit": "c1", "created_at": None, "flaky": []}], "run 0 has no usable commit"),
    ([{"commit": f"c{n}", "created_at": "", "flaky": ["a"]} for n in range(101)], "holds 101 runs"),
    ([{"commit": "c1", "created_at": "", "flaky": ["a"] * (MAX_HISTORY_IDS + 1)}], f"lists {MAX_HISTORY_IDS + 1}"),
])
def test_a_hostile_history_is_ignored_in_one_line_and_the_baseline_still_read(tmp_path, history, reason):
    path = tmp_path / BASELINE_FILE
    _doc(history)(path)
    got = read(path)
    assert got.history_note is not None and reason in got.history_note and "\n" not in got.history_note
    assert [(r.commit, r.flaky) for r in got.history()] == [("c1", ("a",))]  # its own run alone
    assert got.tests["x::steady"] == t()


def flaky_head(tmp_path: Path) -> Path:
    """The head's results folder (test_baseline_compare.head_results) with FLAKY passing on its re-run."""
    head = head_results(tmp_path)
    with open(head / "events-unit.jsonl", "a") as events:
        events.write(json.dumps({"type": "test", "nodeid": FLAKY, "when": "call", "outcome": "passed",
                                 "duration": 0.1, "kind": "unit", "flaky": "AssertionError: once"}) + "\n")
    return head


def test_stored_in_sequence_a_test_flaky_twice_is_known_flaky_in_the_comparison(tmp_path, monkeypatch):
    head = flaky_head(tmp_path)
    folder, out = tmp_path / "bl", io.StringIO()
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    for commit in ("c1", "c2", "c2"):  # the second commit stored twice: it counts once
        monkeypatch.setenv("ASYNC_TEST_BASELINE_COMMIT", commit)
        assert compare_main(["store", str(head), str(folder)], out) == 0
    assert [r.commit for r in read(folder / BASELINE_FILE).history()] == ["c2", "c1"]
    assert compare_main([str(folder), str(head)], out) == 0
    comparison = read_comparison(head)[0]
    assert comparison is not None and comparison.known_flaky == (FLAKY,)
    assert f"known flaky (flaky in 2 or more of the base's last 10 runs): {FLAKY}" in out.getvalue()
    assert "**Known flaky (1)**: flaky in 2 or more of the base's last 10 runs" in (head / "summary.md").read_text()
    assert _comparison_outputs(read_comparison(head))["known-flaky"] == "1"
    # --previous: the action's store step continues the restored baseline's history in a new folder
    monkeypatch.setenv("ASYNC_TEST_BASELINE_COMMIT", "c3")
    assert compare_main(["store", str(head), str(tmp_path / "new"), "--previous", str(folder)], out) == 0
    assert [r.commit for r in read(tmp_path / "new" / BASELINE_FILE).history()] == ["c3", "c2", "c1"]
    # a baseline of another project does not continue: one line, the history starts again
    other = tmp_path / "other"
    write(other, baseline({"x::y": t()}, repository="someone/else", path_in_repo="elsewhere"))
    said = io.StringIO()
    assert compare_main(["store", str(head), str(tmp_path / "again"), "--previous", str(other)], said) == 0
    assert "flaky history starts again: the baseline is of the project in elsewhere" in said.getvalue()
    assert [r.commit for r in read(tmp_path / "again" / BASELINE_FILE).history()] == ["c3"]


def test_compare_with_a_hostile_history_says_one_line_and_compares(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    head = flaky_head(tmp_path)
    base = tmp_path / "base"
    base.mkdir()
    doc = baseline({"svc/tests/test_a.py::test_one": t()}, path_in_repo="svc", repository=None).to_json()
    doc["flaky_history"] = [{"commit": "c1", "created_at": "", "flaky": [None]}] * 3
    (base / BASELINE_FILE).write_text(json.dumps(doc))
    out = io.StringIO()
    assert compare_main([str(base), str(head)], out) == 0
    said = [line for line in out.getvalue().splitlines() if "flaky history" in line]
    assert said == ["async-test: the baseline's flaky history is ignored: its flaky history's run 0 lists a test "
                    "id that is not text"]
    comparison = read_comparison(head)[0]
    assert comparison is not None and comparison.known_flaky == () and comparison.new_failures


def test_a_known_flaky_failure_is_labelled_in_every_report():
    history = with_history(run("c2", "a::flaky", "a::gone"), run("c1", "a::flaky", "a::gone"))
    base = dataclasses.replace(history, tests={**history.tests, "a::flaky": t()})
    head = baseline({"x::steady": t(), "a::flaky": t("failed"), "a::new": t("failed")})
    c = compare(base, head)
    assert c.known_flaky == ("a::flaky",)  # a::gone is not in the head's run: not listed
    assert c.new_failures == ("a::flaky", "a::new")
    lines = console_lines(c)
    assert "  new failure: a::flaky (known flaky)" in lines and "  new failure: a::new" in lines
    md = "\n".join(section(c))
    assert "- 🆕 new: <code>a::flaky</code> (known flaky)" in md and "- 🆕 new: <code>a::new</code>\n" in md
    assert "- known flaky: <code>a::flaky</code>" in md
    assert Comparison.from_json(json.loads(json.dumps(c.to_json()))) == c
    assert _comparison_outputs((c, None, ()))["known-flaky"] == "1"
    assert _comparison_outputs((None, "no baseline", ()))["known-flaky"] == ""


def test_the_affected_counts_file_name_is_the_runners():
    """baseline/ may not import the runner: the name it reads is kept equal to the one the run writes."""
    from async_test_harness.affected import COUNTS_SUFFIX
    from async_test_harness.baseline.store import AFFECTED_COUNTS_FILE
    from async_test_harness.runner.affected_run import SELECTION_FILE

    assert AFFECTED_COUNTS_FILE == SELECTION_FILE + COUNTS_SUFFIX
