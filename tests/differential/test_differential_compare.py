"""compare.py on small hand-made results folders: every kind of difference is found, and only times
and the documented exceptions are left out, so the differential tier cannot pass by comparing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Dict, List

import pytest
from compare import (
    DELIBERATE,
    EXCEPTED,
    DifferentResults,
    assert_same,
    coverage_lines,
    differences,
    ignored,
    report,
    results_facts,
    without_deliberate_lines,
)

from reports import summary

PROJECT = Path("/workspace/svc")
JUNIT = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="{failures}" skipped="0" tests="2" \
time="{time}" timestamp="2026-12-06T00:48:43" hostname="{host}">
<testcase classname="tests.test_{kind}" name="test_ok" file="tests/test_{kind}.py" line="1" time="{time}">\
<properties><property name="async_test_kind" value="{kind}" /></properties></testcase>
<testcase classname="tests.test_{kind}" name="test_two" file="tests/test_{kind}.py" line="5" time="0.01">\
<properties><property name="async_test_kind" value="{kind}" /></properties>{outcome}</testcase>
</testsuite></testsuites>
"""
FAILURE = '<failure message="AssertionError: &lt;Session object at {address}&gt;">assert 1 == 2</failure>'
COVERAGE_XML = """<?xml version="1.0" ?>
<coverage version="{version}" timestamp="{time}" lines-valid="3" lines-covered="{covered}" line-rate="0.5">
<sources><source>/workspace/svc</source></sources><packages><package name="app" line-rate="0.5"><classes>
<class name="core.py" filename="app/core.py" line-rate="0.5"><methods/><lines>
<line number="1" hits="1"/><line number="2" hits="{hits}"/><line number="3" hits="0"/></lines></class>
</classes></package></packages></coverage>
"""


def write_folder(folder: Path, time: float = 1.5, host: str = "vm", version: str = "7.18.0",
                 address: str = "0x7f5dc1736750", contexts_order: List[str] = ("unit", "integration"),
                 one_session: bool = True) -> Path:
    """A results folder as async-test run writes it, small: two passes, two tests each, one file measured."""
    from coverage import CoverageData

    folder.mkdir(parents=True)
    doc = summary()
    doc["duration_seconds"] = doc["phases"]["total"] = time
    doc["started_at"] = f"2026-11-25T00:00:{int(time):02d}+00:00"
    doc["environment"]["coverage"] = version
    doc["project"]["results_dir"] = str(folder)
    for kind in ("unit", "integration"):
        doc["passes"][kind]["duration_seconds"] = time
        # the slowest tests are chosen by time: another run may list others
        doc["passes"][kind]["slowest"] = [{"nodeid": f"tests/test_{kind}.py::test_{time}", "duration_seconds": time}]
    doc["passes"]["integration"]["failures"] = [{
        "nodeid": "tests/test_integration.py::test_two", "kind": "integration", "when": "call", "file": "t.py",
        "repo_path": "svc/t.py", "line": 3, "message": "AssertionError", "output": "",
        "traceback": f"session = <AsyncSession object at {address}>\n>  assert 1 == 2"}]
    (folder / "summary.json").write_text(json.dumps(doc))
    for kind, outcome in (("unit", ""), ("integration", FAILURE.format(address=address))):
        (folder / f"junit-{kind}.xml").write_text(
            JUNIT.format(kind=kind, time=time, host=host, outcome=outcome, failures=1 if outcome else 0))
    for name, lines in ((".coverage.unit", {"app/core.py": [1, 2]}), (".coverage.integration", {"app/core.py": [1]})):
        data = CoverageData(basename=str(folder / name))
        data.add_lines({str(PROJECT / f): ls for f, ls in lines.items()})
        data.touch_file(str(PROJECT / "app/unused.py"))
        data.write()
    combined = CoverageData(basename=str(folder / ".coverage"))
    for context in contexts_order:
        combined.set_context(context)
        combined.add_lines({str(PROJECT / "app/core.py"): [1, 2] if context == "unit" else [1]})
    combined.touch_file(str(PROJECT / "app/unused.py"))
    combined.write()
    contexts = {"1": list(contexts_order), "2": ["unit"]}
    (folder / "coverage.json").write_text(json.dumps({
        "meta": {"format": 3, "version": version, "timestamp": str(time), "show_contexts": True},
        "files": {"app/core.py": {"executed_lines": [1, 2], "missing_lines": [3], "excluded_lines": [],
                                  "contexts": contexts, "summary": {"percent_covered": 66.67}}},
        "totals": {"covered_lines": 2, "num_statements": 3}}))
    for name in ("coverage.xml", "coverage-unit.xml", "coverage-integration.xml"):
        (folder / name).write_text(COVERAGE_XML.format(version=version, time=int(time * 1000), covered=2, hits=1))
    (folder / "summary.md").write_text(f"# async-test\n\n| unit | passed | 5 | {time}s | 80.0% |\n")
    (folder / "durations.json").write_text(json.dumps(
        {"format": "async-test-durations", "version": 1, "durations": {"tests/test_unit.py::test_ok": time}}))
    for kind in ("all",) if one_session else ("unit", "integration"):
        (folder / f"events-{kind}.jsonl").write_text("{}\n")
    return folder


@pytest.fixture
def pair(tmp_path: Path):
    return write_folder(tmp_path / "one"), write_folder(tmp_path / "two")


def test_the_same_results_have_no_difference_and_every_source_is_read(pair):
    left, right = (results_facts(p, PROJECT) for p in pair)
    assert differences(left, right) == []
    for key in ("summary.json passes.unit.counts.passed", "summary.json exit.code",
                "summary.json coverage.thresholds.combined", "junit-unit.xml tests.test_unit::test_ok",
                "junit-integration.xml tests.test_integration::test_two", ".coverage.unit app/core.py",
                ".coverage.unit app/unused.py", ".coverage app/core.py contexts",
                "coverage.json app/core.py missing_lines",
                "coverage-unit.xml app/core.py", "summary.md line 003", "durations.json tests",
                "folder junit-unit.xml"):
        assert key in left, key
    assert left["junit-integration.xml tests.test_integration::test_two"]["outcome"] == "failure"
    assert left[".coverage app/core.py contexts"] == {"1": ["integration", "unit"], "2": ["unit"]}


def test_times_versions_addresses_and_the_folders_path_are_not_differences(tmp_path):
    left = results_facts(write_folder(tmp_path / "one"), PROJECT)
    right = results_facts(write_folder(tmp_path / "two", time=9.25, host="other", version="7.99.0",
                                       address="0x55d0be4e10aa", contexts_order=["integration", "unit"],
                                       one_session=False), PROJECT)
    assert left != right  # they do differ ...
    assert differences(left, right) == []  # ... only in what is excepted, normalised or deliberate


def _set(path: str, *keys: object, value: object) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        doc = json.loads((folder / path).read_text())
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        (folder / path).write_text(json.dumps(doc))
    return change


def _replace(path: str, old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        text = (folder / path).read_text()
        assert old in text, old
        (folder / path).write_text(text.replace(old, new, 1))
    return change


def _coverage(name: str, lines: Dict[str, List[int]], context: str = "") -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        from coverage import CoverageData

        (folder / name).unlink()
        data = CoverageData(basename=str(folder / name))
        data.set_context(context or None)
        data.add_lines({str(PROJECT / f): ls for f, ls in lines.items()})
        data.write()
    return change


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


CHANGES = {
    "a pass's count": (_set("summary.json", "passes", "unit", "counts", "failed", value=1),
                       "summary.json passes.unit.counts.failed"),
    "the exit code": (_set("summary.json", "exit", "code", value=4), "summary.json exit.code"),
    "the exit reason": (_set("summary.json", "exit", "reason", value="coverage below"), "summary.json exit.reason"),
    "a threshold": (_set("summary.json", "coverage", "thresholds", "combined", value=95),
                    "summary.json coverage.thresholds.combined"),
    "below_threshold": (_set("summary.json", "coverage", "below_threshold", value=["combined"]),
                        "summary.json coverage.below_threshold"),
    "a combined figure": (_set("summary.json", "coverage", "combined", "percent", value=100.0),
                          "summary.json coverage.combined.percent"),
    "a failure's message": (_set("summary.json", "passes", "integration", "failures", 0, "message", value="other"),
                            "summary.json passes.integration.failures[tests/test_integration.py::test_two (call)]"
                            ".message"),
    "a test's outcome": (_replace("junit-unit.xml", "</properties></testcase>\n</testsuite>",
                                  '</properties><error message="boom" /></testcase>\n</testsuite>'),
                         "junit-unit.xml tests.test_unit::test_two"),
    "a lost test": (_replace("junit-unit.xml", 'name="test_ok"', 'name="test_other"'),
                    "junit-unit.xml tests.test_unit::test_ok"),
    "a suite's count": (_replace("junit-unit.xml", 'tests="2"', 'tests="3"'), "junit-unit.xml suite.tests"),
    "a pass's line": (_coverage(".coverage.unit", {"app/core.py": [1]}), ".coverage.unit app/core.py"),
    "an unimported file": (_coverage(".coverage.unit", {"app/core.py": [1, 2]}), ".coverage.unit app/unused.py"),
    "the kind that ran a line": (_coverage(".coverage", {"app/core.py": [1, 2]}, context="integration"),
                                 ".coverage app/core.py contexts"),
    "a report's missing lines": (_set("coverage.json", "files", "app/core.py", "missing_lines", value=[]),
                                 "coverage.json app/core.py missing_lines"),
    "an XML report's hits": (_replace("coverage-integration.xml", 'number="2" hits="1"', 'number="2" hits="0"'),
                             "coverage-integration.xml app/core.py"),
    "summary.md": (_replace("summary.md", "80.0%", "81.0%"), "summary.md line 003"),
    "the tests with durations": (_set("durations.json", "durations", value={}), "durations.json tests"),
    "a results file": (_remove("coverage.json"), "folder coverage.json"),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_each_kind_of_difference_is_found(tmp_path, change):
    mutate, key = CHANGES[change]
    left = write_folder(tmp_path / "one")
    right = write_folder(tmp_path / "two")
    mutate(right)
    found = differences(results_facts(left, PROJECT), results_facts(right, PROJECT))
    assert key in [d.key for d in found], [d.key for d in found]
    with pytest.raises(DifferentResults, match="difference"):
        assert_same(results_facts(left, PROJECT), results_facts(right, PROJECT), ("a", "b"))


def test_the_report_lists_the_first_twenty_with_both_values():
    left = {f"summary.json k{n:02d}": n for n in range(25)}
    right = {f"summary.json k{n:02d}": n + 1 for n in range(25)}
    text = report(differences(left, right), ("default", "--separate-passes"))
    assert text.startswith("25 difference(s) between default and --separate-passes")
    assert "summary.json k19\n    default: 19\n    --separate-passes: 20" in text
    assert "k20" not in text and text.endswith("... and 5 more")


def test_verdicts_come_before_the_reports_written_from_the_data():
    keys = ["folder x", "coverage.json f", ".coverage.unit f", "junit-unit.xml t", "summary.json exit.code",
            "process exit code"]
    found = differences(dict.fromkeys(keys, 1), dict.fromkeys(keys, 2))
    assert [d.key for d in found] == list(reversed(keys))


def test_every_exception_is_documented_and_matches_what_it_is_for(tmp_path):
    assert all(len(why) > 40 for why in DELIBERATE.values())
    facts = results_facts(write_folder(tmp_path / "one", one_session=False), PROJECT)
    for pattern in DELIBERATE:
        assert any(ignored(key, [pattern]) for key in facts), pattern
    # nothing a verdict or a figure is read from is excepted
    for key in ("summary.json exit.code", "summary.json passes.unit.counts.total", ".coverage.unit app/core.py",
                "summary.json coverage.combined.percent", "junit-unit.xml tests.test_unit::test_ok"):
        assert not ignored(key, [*EXCEPTED, *DELIBERATE]), key


def test_coverage_lines_are_every_contexts_lines(tmp_path):
    folder = write_folder(tmp_path / "one")
    assert coverage_lines(folder / ".coverage", PROJECT) == {"app/core.py": [1, 2], "app/unused.py": []}
    shutil.rmtree(folder)


def test_only_the_deliberate_warning_is_left_out_of_summary_md():
    lines = ["| combined |", "", "## Warnings", "", "- a connection to the test database (x) was open when "
             "collection ended (...)", "", "## Failures", "", "- `t.py` failed"]
    assert without_deliberate_lines(lines) == ["| combined |", "", "## Failures", "", "- `t.py` failed"]
    other = ["## Warnings", "", "- something else", "", "## Failures"]
    assert without_deliberate_lines(other) == other
