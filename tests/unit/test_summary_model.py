"""summary.json as typed objects (issue 13 item 3): what is written reads back, what is not a summary is refused.

The runner's real documents are checked byte for byte where the tests that run it read them
(``helpers.assert_summary_round_trip``); these are the model's own rules.
"""

import copy
import json
from dataclasses import replace

import jsonschema
import pytest

from async_test_harness.summary.format import heaviest, pct, results_table
from async_test_harness.summary.model import (
    Counts,
    Coverage,
    CoverageFigure,
    Exit,
    Failure,
    FileCoverage,
    HeavyTest,
    InfrastructureError,
    Pass,
    Passes,
    PerFigure,
    ProjectPaths,
    SlowTest,
    Summary,
    Tool,
)
from async_test_harness.summary.validate import Invalid, load_schema, validate
from helpers import REPO
from reports import failure, summary

SCHEMA = json.loads((REPO / "docs" / "summary.schema.json").read_text())


def built() -> Summary:
    """A summary as the runner builds one, with every part filled in."""
    collect = Failure("tests/test_broken.py", "unit", "collect", "tests/test_broken.py", "svc/tests/test_broken.py", 1,
                      "SyntaxError: invalid syntax", "tb", "", passes=("unit", "integration"))
    failed = Failure("tests/test_a.py::test_one", "unit", "call", "tests/test_a.py", "svc/tests/test_a.py", 3,
                     "AssertionError: assert 1 == 2", "tests/test_a.py:3: AssertionError", "captured")
    unit = Pass("unit", True, "failed", 1, 1.234, Counts(passed=4, failed=1, errors=1, skipped=2, total=8),
                deselected=1, failures=(collect, failed), slowest=(SlowTest("tests/test_a.py::test_slow", 0.5),),
                heaviest=(), warnings=("a transaction was left open",))
    integration = Pass("integration", True, "error", -9, 2.0, status_reason="pytest was killed by SIGKILL",
                       heaviest=(HeavyTest("tests/test_db.py::test_list", 12),
                                 HeavyTest("tests/test_db.py::test_one", 2)))
    return Summary(
        tool=Tool("async-test", "0.1.0"), started_at="2026-11-25T00:00:00+00:00", duration_seconds=3.5,
        project=ProjectPaths("/w/svc", "/w", "svc", "/w/svc/.async-test"),
        exit=Exit(3, "infrastructure_error", "infrastructure failure: PostgreSQL stopped"),
        environment={"python": "3.11.7", "pytest": "8.3.0", "harness": None, "postgresql": "16.4"},
        phases={"unit_pass": 1.234, "total": 3.5},
        passes=Passes(unit, integration),
        coverage=Coverage(
            unit=CoverageFigure(75.0, 3, 4), integration=None, combined=CoverageFigure(83.33, 5, 6),
            files=(FileCoverage("svc/app/core.py", 6, 83.33, (1, 2), (), (4,), (9,)),),
            thresholds=PerFigure(combined=95), threshold_sources=PerFigure(combined="--fail-under"),
            below_threshold=("combined coverage 83.33% < 95%",),
        ),
        infrastructure_error=InfrastructureError("database", "PostgreSQL stopped during the integration pass"),
        files={"summary_markdown": "summary.md"},
    )


def test_a_built_summary_is_a_valid_document_that_reads_back_equal():
    summary_ = built()
    doc = summary_.to_json()
    jsonschema.validate(doc, SCHEMA)
    assert Summary.from_json(doc) == summary_
    assert Summary.from_json(json.loads(json.dumps(doc))) == summary_
    assert Summary.from_json(doc).to_json() == doc


def test_to_json_writes_the_runners_keys_in_the_runners_order():
    doc = built().to_json()
    assert list(doc) == ["schema_version", "tool", "started_at", "duration_seconds", "project", "exit", "environment",
                         "phases", "passes", "coverage", "infrastructure_error", "files"]
    assert list(doc["passes"]["unit"]) == ["kind", "selected", "status", "exit_code", "duration_seconds", "counts",
                                           "deselected", "failures", "slowest", "heaviest", "warnings",
                                           "status_reason"]
    assert doc["passes"]["unit"]["heaviest"] == []
    assert doc["passes"]["integration"]["heaviest"] == [{"nodeid": "tests/test_db.py::test_list", "statements": 12},
                                                        {"nodeid": "tests/test_db.py::test_one", "statements": 2}]
    assert list(doc["passes"]["unit"]["counts"]) == ["passed", "failed", "errors", "skipped", "xfailed", "xpassed",
                                                     "total"]
    assert list(doc["passes"]["unit"]["failures"][0])[-1] == "passes"
    assert "passes" not in doc["passes"]["unit"]["failures"][1], "only collection errors name their passes"
    assert list(doc["coverage"]) == ["unit", "integration", "combined", "files", "thresholds", "threshold_sources",
                                     "below_threshold", "error"]
    assert doc["schema_version"] == 1 and doc["tool"] == {"name": "async-test", "version": "0.1.0"}


@pytest.mark.parametrize("doc", [
    summary(),
    summary([failure("svc/t.py::test_a"), failure("svc/t.py::test_b", kind="integration", when="setup")],
            infra={"phase": "database", "message": "down"}),
], ids=["passing", "failing"])
def test_a_document_without_the_optional_keys_reads_with_their_defaults(doc):
    """The reporting tests' documents (and older summaries) lack status_reason, threshold_sources and error."""
    doc = copy.deepcopy(doc)
    doc["passes"]["unit"].pop("heaviest", None)  # summaries before issue 17 item 5 lack it
    read = Summary.from_json(doc)
    assert read.passes.unit.status_reason is None and read.coverage.threshold_sources is None
    assert read.coverage.error is None and read.passes.unit.heaviest is None
    again = read.to_json()
    jsonschema.validate(again, SCHEMA)
    assert Summary.from_json(again) == read
    assert "threshold_sources" not in again["coverage"] and "heaviest" not in again["passes"]["unit"]
    assert again["passes"]["unit"]["status_reason"] is None and again["coverage"]["error"] is None
    assert again["passes"] == {kind: {**p, "status_reason": None} for kind, p in doc["passes"].items()}


def test_integers_written_as_floats_read_as_int_and_unknown_keys_are_ignored():
    doc = summary([failure("svc/t.py::test_a")])
    doc["exit"]["code"] = 1.0  # JSON allows it where the schema says integer
    doc["passes"]["unit"]["failures"][0]["line"] = 3.0
    doc["passes"]["unit"]["counts"]["extra"] = 2
    doc["environment"]["coverage"] = {"not": "text"}  # beyond the schema's keys, unchecked by it
    doc["environment"]["harness"] = "0.1.0"
    doc["tool"]["build"] = "x"
    read = Summary.from_json(doc)
    assert read.exit.code == 1 and type(read.exit.code) is int
    assert type(read.passes.unit.failures[0].line) is int
    assert read.environment == {"python": "3.11.7", "harness": "0.1.0"}
    assert "extra" not in read.to_json()["passes"]["unit"]["counts"] and "build" not in read.to_json()["tool"]


def _invalid_message(doc) -> str:
    with pytest.raises(Invalid) as raised:
        validate(doc, load_schema())
    return str(raised.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["exit"].update(code="1"), "exit.code: is not one of 0, 1, 2, 3, 4, 5, 130"),
    (lambda d: d["passes"]["unit"]["failures"][0].update(line=0),
     "passes.unit.failures[0].line: is below the minimum 1"),
    (lambda d: d.update(schema_version=2), "schema_version: is not 1"),
    (lambda d: d["passes"]["unit"].update(heaviest=[{"nodeid": "t.py::t", "statements": 0}]),
     "passes.unit.heaviest[0].statements: is below the minimum 1"),
    (lambda d: d["passes"]["unit"].update(heaviest=[{"statements": 3}]),
     "passes.unit.heaviest[0]: lacks the required 'nodeid'"),
    (lambda d: d.pop("coverage"), "the document: lacks the required 'coverage'"),
    (lambda d: d["passes"].update(third=d["passes"]["unit"]), "passes.third: is not allowed here"),
])
def test_from_json_refuses_what_is_not_a_summary_with_the_validators_message(mutate, message):
    doc = copy.deepcopy(summary([failure("svc/t.py::test_a")]))
    mutate(doc)
    with pytest.raises(Invalid) as raised:
        Summary.from_json(doc)
    assert str(raised.value) == message == _invalid_message(doc)


def test_from_json_refuses_a_document_that_is_not_an_object():
    with pytest.raises(Invalid) as raised:
        Summary.from_json(["not", "a", "summary"])
    assert str(raised.value) == "the document: is not of type object"


def test_read_refuses_nan_and_reads_any_bytes(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary()).replace('"percent": 80.0', '"percent": NaN', 1))
    with pytest.raises(Invalid, match="NaN or Infinity"):
        Summary.read(path)
    path.write_bytes(json.dumps(summary([failure("svc/t.py::test_PLACEHOLDER")])).encode()
                     .replace(b"PLACEHOLDER", b"\xff\\ud800\\u0000"))
    assert Summary.read(path).failures[0].nodeid == "svc/t.py::test_\ufffd\ufffd\ufffd"


def test_map_text_changes_every_string_and_nothing_else():
    summary_ = replace(built(), phases={"secret_phase": 1.0})
    masked = summary_.map_text(lambda text: text.replace("secret", "***").replace("PostgreSQL", "P"))
    assert masked.phases == {"***_phase": 1.0}
    assert masked.infrastructure_error == InfrastructureError("database", "P stopped during the integration pass")
    assert masked.exit.reason == "infrastructure failure: P stopped" and masked.exit.code == 3
    assert masked.passes.unit.failures == summary_.passes.unit.failures
    assert masked.coverage == summary_.coverage and masked.passes.unit.counts == summary_.passes.unit.counts
    every = summary_.map_text(lambda text: "x")
    strings = []

    def collect(value):
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(every.to_json())
    assert set(strings) == {"x"}


def test_the_table_and_pct_are_shared_by_summary_md_and_the_job_summary():
    read = Summary.from_json(summary())
    assert pct(read.coverage.unit) == "80.0%" and pct(None) == "-"
    assert results_table(read)[-1] == "| combined | | | | | | | | 80.0% |"
    assert results_table(read, cell=str.upper, emphasis="**")[2:] == [
        "| UNIT | PASSED | 5 | 5 | 0 | 0 | 0 | 1.5s | 80.0% |",
        "| INTEGRATION | PASSED | 5 | 5 | 0 | 0 | 0 | 1.5s | 80.0% |",
        "| **combined** | | | | | | | | **80.0%** |",
    ]


def test_heaviest_merges_the_passes_most_first_ties_by_name_and_keeps_ten():
    doc = summary()
    doc["passes"]["unit"]["heaviest"] = [{"nodeid": "u::b", "statements": 5}]
    doc["passes"]["integration"]["heaviest"] = [{"nodeid": f"i::t{n:02}", "statements": n} for n in range(20, 1, -1)]
    doc["passes"]["integration"]["heaviest"].append({"nodeid": "i::a", "statements": 5})
    got = [(t.nodeid, t.statements) for t in heaviest(Summary.from_json(doc))]
    assert got[:2] == [("i::t20", 20), ("i::t19", 19)] and len(got) == 10
    assert [(t.nodeid, t.statements) for t in heaviest(Summary.from_json(doc), limit=30)][-6:] == [
        ("i::a", 5), ("i::t05", 5), ("u::b", 5), ("i::t04", 4), ("i::t03", 3), ("i::t02", 2)]
