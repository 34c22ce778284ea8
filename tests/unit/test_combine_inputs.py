"""``async-test combine``'s checks of its inputs and its merge of the passes (runner/combine.py).

The real merge (JUnit, coverage, counts equal to an unsharded run) is proven on real runs in
tests/integration/test_shards_and_combine.py; these are the refusals and the arithmetic.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from async_test_harness import cli
from async_test_harness.runner import combine as combine_module
from async_test_harness.runner.combine import CombineOptions, _read_inputs, merge_pass
from async_test_harness.runner.combine_inputs import (
    CombineError,
    check_no_test_twice,
    coverage_problems,
    read_junit,
    shortfalls,
)
from async_test_harness.summary.model import Summary
from reports import failure, summary


def shard_doc(index: Optional[int], total: int, collected: int = 12, **changes: Any) -> Dict[str, Any]:
    doc = summary(**changes)
    if index is not None:
        doc["shard"] = {"index": index, "total": total, "selected": 6, "collected": collected}
    return doc


def folders(tmp_path: Path, *docs: Dict[str, Any]) -> CombineOptions:
    inputs = []
    for number, doc in enumerate(docs, 1):
        folder = tmp_path / f"s{number}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(doc))
        inputs.append(str(folder))
    return CombineOptions(output=str(tmp_path / "out"), inputs=inputs)


@pytest.mark.parametrize(("docs", "why"), [
    ([(1, 3), (2, 3)], "shard(s) 3/3 are missing"),
    ([(1, 2), (1, 2)], "a shard is given twice (1/2, 1/2)"),
    ([(1, 2), (2, 3)], "split in different numbers of parts (2, 3)"),
    ([(1, 2), (None, 2)], "some of the folders are of shards and some of whole runs"),
])
def test_an_incomplete_or_mixed_set_of_shards_is_refused(tmp_path, docs, why):
    with pytest.raises(CombineError) as err:
        _read_inputs(folders(tmp_path, *(shard_doc(i, n) for i, n in docs)))
    assert why in str(err.value) and "\n" not in str(err.value)


def test_a_folder_without_a_summary_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CombineError, match="is not a finished run's results folder"):
        _read_inputs(CombineOptions(output=str(tmp_path / "out"), inputs=[str(tmp_path / "empty")]))


def test_the_shard_keys_round_trip_and_are_absent_from_an_unsharded_summary():
    doc = shard_doc(2, 3)
    doc["shards"] = [{"index": 1, "total": 3, "results_dir": "/r1", "started_at": "2026-11-30T00:00:00+00:00",
                      "duration_seconds": 1.5, "exit_code": 0, "tests": 4}]
    read = Summary.from_json(doc)
    assert read.shard is not None and (read.shard.index, read.shard.total, read.shard.collected) == (2, 3, 12)
    written = read.to_json()
    assert written["shard"] == doc["shard"] and written["shards"] == doc["shards"]
    assert list(written)[-2:] == ["shard", "shards"] and Summary.from_json(written) == read
    plain = Summary.from_json(summary())
    assert "shard" not in plain.to_json() and "shards" not in plain.to_json()


def test_merged_counts_count_a_collection_error_once_and_deselected_as_unsharded():
    broken = failure("tests/test_b.py", when="collect", message="SyntaxError")
    broken["passes"] = ["unit", "integration"]
    docs = [shard_doc(k, 2, collected=12, failures=[broken, failure(f"tests/test_a.py::t{k}")]) for k in (1, 2)]
    for doc in docs:
        unit = doc["passes"]["unit"]
        unit["counts"].update(errors=1, failed=1)  # the collection error and t{k}, as each shard counted them
        unit["deselected"] = 6 + 2  # the other shard's 6 tests, and 2 integration tests of this shard's own
    merged = merge_pass("unit", [Summary.from_json(d) for d in docs])
    assert merged.counts.errors == 1 and merged.counts.failed == 2
    assert [f.when for f in merged.failures].count("collect") == 1 and len(merged.failures) == 3
    assert merged.deselected == 16 - 12  # summed, less what each shard left to the other
    assert merged.status == "failed" and merged.exit_code == 1


# ------------------------------------------------------------------ issue 22: inputs are not trusted


def test_shards_of_two_projects_are_refused(tmp_path):
    """Same N, each shard once, yet two suites: by the project's place, the number collected, or the ids' digest."""
    other_place = shard_doc(2, 2)
    other_place["project"]["path_in_repo"] = "other"
    fewer = shard_doc(2, 2, collected=6)
    same_count = shard_doc(2, 2)
    same_count["shard"]["fingerprint"] = "bbbbbbbbbbbbbbbb"
    first = shard_doc(1, 2)
    first["shard"]["fingerprint"] = "aaaaaaaaaaaaaaaa"
    for second, why in ((other_place, "paths in their repositories differ"),
                        (fewer, "numbers of tests they collected differ"),
                        (same_count, "digests of the test ids they collected differ")):
        out = tmp_path / why.split()[0]
        out.mkdir()
        with pytest.raises(CombineError) as err:
            _read_inputs(folders(out, first, second))
        assert why in str(err.value) and "not parts of one suite" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "ok").mkdir()
    assert len(_read_inputs(folders(tmp_path / "ok", first, shard_doc(2, 2)))) == 2  # a digest unknown: not refused


def junit(*cases: str) -> str:
    body = "".join(f'<testcase classname="tests.test_a" name="{c}" time="0.1"><properties><property '
                   f'name="async_test_kind" value="unit"/></properties></testcase>' for c in cases)
    return f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">{body}</testsuite></testsuites>'


def test_two_copies_of_one_run_are_refused_not_counted_twice(tmp_path):
    options = folders(tmp_path, summary(), summary())
    for folder in options.inputs:
        (Path(folder) / "junit-unit.xml").write_text(junit("test_x", "test_y"))
    inputs = _read_inputs(options)
    assert read_junit(inputs) == []
    with pytest.raises(CombineError) as err:
        check_no_test_twice(inputs)
    assert "both hold results of 2 test(s)" in str(err.value) and "counted twice" in str(err.value)
    (Path(options.inputs[1]) / "junit-unit.xml").write_text(junit("test_z"))  # other tests: fine
    inputs = _read_inputs(options)
    read_junit(inputs)
    check_no_test_twice(inputs)


@pytest.mark.parametrize("text", ["", '<?xml version="1.0"?><testsuites><testsu', "<html/>",
                                  '<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites>&a;</testsuites>'])
def test_a_truncated_empty_or_foreign_junit_file_is_a_problem_not_a_traceback(tmp_path, text):
    options = folders(tmp_path, summary())
    (Path(options.inputs[0]) / "junit-unit.xml").write_text(text)
    (Path(options.inputs[0]) / "junit-integration.xml").write_text(junit("test_ok"))
    inputs = _read_inputs(options)
    problems = read_junit(inputs)
    assert len(problems) == 1 and "junit-unit.xml cannot be read" in problems[0] and "\n" not in problems[0]
    assert list(inputs[0].junit) == ["integration"]


def hostile_summary(folder: Path, kind: str) -> None:
    path = folder / "summary.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "link out":
        outside = folder.parent / "elsewhere.json"
        outside.write_text(json.dumps(summary()))
        path.symlink_to(outside)
    elif kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(65 * 1024 * 1024)  # sparse: no disk used


@pytest.mark.parametrize(("kind", "why"), [("fifo", "is a FIFO"), ("folder", "is a folder"),
                                           ("link out", "outside its folder"), ("huge", "larger than")])
def test_a_summary_that_is_not_a_regular_file_in_its_folder_is_refused_at_once(tmp_path, kind, why):
    folder = tmp_path / "s1"
    folder.mkdir()
    hostile_summary(folder, kind)
    with pytest.raises(CombineError) as err:  # a FIFO used to hang here (the test's timeout would end it)
        _read_inputs(CombineOptions(output=str(tmp_path / "out"), inputs=[str(folder)]))
    assert why in str(err.value) and "is not a finished run's results folder" in str(err.value)


def shard_input(tmp_path: Path, index: int, selected: int, reported: int, deselected: int, collected: int = 8,
                only_unit: bool = True) -> Dict[str, Any]:
    doc = shard_doc(index, 2, collected=collected)
    doc["shard"]["selected"] = selected
    unit = doc["passes"]["unit"]
    unit["counts"].update(passed=reported, total=reported)
    unit["deselected"] = deselected
    if only_unit:
        doc["passes"]["integration"].update(selected=False, status="not-run", exit_code=None)
        doc["passes"]["integration"]["counts"].update(passed=0, total=0)
    return doc


def test_a_shard_whose_selected_tests_did_not_report_is_a_shortfall(tmp_path):
    """The reported case: shard 2/2 held a test calling os._exit(0); its pass wrote nothing."""
    whole = [shard_input(tmp_path, 1, 4, 4, 4), shard_input(tmp_path, 2, 4, 4, 4)]
    (tmp_path / "a").mkdir()
    assert shortfalls(_read_inputs(folders(tmp_path / "a", *whole))) == []
    lost = [shard_input(tmp_path, 1, 4, 4, 4), shard_input(tmp_path, 2, 4, 0, 0)]
    (tmp_path / "b").mkdir()
    lines = shortfalls(_read_inputs(folders(tmp_path / "b", *lost)))
    assert lines == ["shard 2/2: 4 of its 4 selected test(s) did not report (its unit pass reported 0 and "
                     "deselected 0 of the 8 collected)"]
    # The shards together selected 7 of 8 collected: one test ran in none.
    (tmp_path / "c").mkdir()
    lines = shortfalls(_read_inputs(folders(tmp_path / "c", shard_input(tmp_path, 1, 4, 4, 4),
                                            shard_input(tmp_path, 2, 3, 3, 5))))
    assert lines == ["the shards together selected 7 of the 8 collected tests: 1 ran in none"]


def test_coverage_a_shard_measured_but_did_not_bring_is_a_problem(tmp_path):
    options = folders(tmp_path, summary())
    problems = coverage_problems(_read_inputs(options))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "it measured unit coverage, but its .coverage.unit is missing (an artifact uploaded without hidden files?)",
        "it measured integration coverage, but its .coverage.integration is missing (an artifact uploaded "
        "without hidden files?)"]


# ------------------------------------------------------------------ the command, end to end on written folders


def consistent(index: int, coverage: bool = False) -> Dict[str, Any]:
    """Shard ``index`` of 2 whose passes account for every collected test: 5 + 5 of 20, the rest deselected."""
    doc = shard_doc(index, 2, collected=20)
    doc["shard"]["selected"] = 10
    for kind in ("unit", "integration"):
        doc["passes"][kind]["deselected"] = 15
    if not coverage:
        doc["coverage"].update(unit=None, integration=None, combined=None)
    return doc


def tree(folder: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "tests").mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def test_combine_drops_durations_that_are_not_durations(tmp_path, project, capsys):
    options = folders(tmp_path, consistent(1), consistent(2))
    for number, folder in enumerate(options.inputs, 1):
        (Path(folder) / "durations.json").write_text(
            f'{{"format": "async-test-durations", "version": 1, "durations": {{"t{number}::ok": 0.5, '
            f'"t{number}::huge": 1e308, "t{number}::negative": -1, "t{number}::nan": NaN}}}}')
    code = cli.main(["combine", str(tmp_path / "out"), *options.inputs, "--project", str(project)])
    assert code == 0, capsys.readouterr()
    written = json.loads((tmp_path / "out" / "durations.json").read_text())["durations"]
    assert written == {"t1::ok": 0.5, "t2::ok": 0.5}


def test_an_unexpected_error_is_one_paragraph_exit_3_and_leaves_the_output_untouched(tmp_path, project, capsys,
                                                                                      monkeypatch):
    options = folders(tmp_path, consistent(1), consistent(2))
    out = tmp_path / "out"
    assert cli.main(["combine", str(out), *options.inputs, "--project", str(project)]) == 0
    before = tree(out)

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(combine_module, "merge_pass", broken)
    capsys.readouterr()
    assert cli.main(["combine", str(out), *options.inputs, "--project", str(project)]) == 3
    err = capsys.readouterr().err
    assert "RuntimeError: a bug over two lines" in err and "This is a bug in async-test" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert tree(out) == before, "a failed combine changed the combined folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "s1", "s2", "svc"]), "a temporary folder left"


def test_unreadable_coverage_data_is_exit_3_recorded_with_no_figures(tmp_path, project, capsys):
    options = folders(tmp_path, consistent(1, coverage=True), consistent(2, coverage=True))
    for folder in options.inputs:
        for kind in ("unit", "integration"):
            (Path(folder) / f".coverage.{kind}").write_bytes(b"not a database")
    code = cli.main(["combine", str(tmp_path / "out"), *options.inputs, "--project", str(project)])
    assert code == 3, capsys.readouterr()
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["exit"]["code"] == 3 and s["infrastructure_error"]["phase"] == "combine"
    assert ".coverage.unit cannot be read" in s["infrastructure_error"]["message"]
    assert s["coverage"]["combined"] is None and ".coverage.unit cannot be read" in s["coverage"]["error"]
