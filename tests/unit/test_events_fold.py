"""The events file the runner folds into counts: one line for a passing test, every outcome kept."""

from async_test_harness.runner.project import find_project
from async_test_harness.runner.results import read_events

SUITE = """
import pytest

@pytest.fixture
def breaks_on_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_passes():
    pass

def test_fails():
    assert 1 == 2

def test_passes_then_teardown_errors(breaks_on_teardown):
    pass

@pytest.mark.xfail(reason="fixed already")
def test_xpasses():
    pass

@pytest.mark.xfail(reason="still broken")
def test_xfails():
    assert False

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


def test_every_outcome_survives_one_line_per_passing_test(pytester, monkeypatch):
    events = pytester.path / "events.jsonl"
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(events))
    monkeypatch.setenv("ASYNC_TEST_KIND", "unit")
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_outcomes=SUITE)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    lines = [line for line in events.read_text().splitlines() if '"type": "test"' in line]
    passing = [line for line in lines if "test_passes\"" in line]
    assert len(passing) == 1, passing  # not one per phase
    result = read_events(events, "unit", find_project(str(pytester.path)))
    assert result.counts["passed"] == 1
    assert result.counts["failed"] == 1
    assert result.counts["errors"] == 1  # the passing call does not hide its teardown error
    assert result.counts["xpassed"] == 1 and result.counts["xfailed"] == 1 and result.counts["skipped"] == 1
    assert result.counts["total"] == 6
    assert {f.nodeid.split("::")[1] for f in result.failures} == {"test_fails", "test_passes_then_teardown_errors"}


def test_generated_code_is_not_a_project_file(tmp_path):
    """SQLAlchemy's generated ``<string>`` frames resolve under the project root; a failure located
    there was annotated in pull requests at ``<string>:2``, a file that does not exist."""
    from async_test_harness.plugin.events import _inside

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    assert _inside("tests/test_x.py", tmp_path) and _inside(str(tmp_path / "tests" / "test_x.py"), tmp_path)
    assert not _inside("<string>", tmp_path) and not _inside("tests/<string>", tmp_path)
    assert not _inside("tests/gone.py", tmp_path)


def test_colours_of_a_coloured_run_stay_out_of_failure_messages(pytester, monkeypatch):
    """Under the action pytest runs with --color=yes; its coloured assertion diff reached summary.json
    and so the annotations, which GitHub shows raw ("[0m[91m- negative")."""
    events = pytester.path / "events.jsonl"
    monkeypatch.setenv("ASYNC_TEST_EVENTS", str(events))
    monkeypatch.setenv("ASYNC_TEST_KIND", "unit")
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_colour='def test_words():\n    assert "positive" == "negative"\n')
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--color=yes")
    assert "\\u001b[" in events.read_text()  # the events still carry them: the fold removes them
    (failure,) = read_events(events, "unit", find_project(str(pytester.path))).failures
    assert "\x1b" not in failure.message + failure.traceback
    assert "- negative" in failure.message and "assert 'positive' == 'negative'" in failure.traceback


def test_statements_fold_into_the_heaviest_tests(tmp_path):
    """A test's count rides on its one line, or on a line of its own when it failed before its
    teardown; one session's file gives each kind its own; ten at most, most first, ties by name."""
    import json

    from async_test_harness.runner.results import HEAVIEST

    lines = [
        {"type": "test", "nodeid": "t.py::light", "when": "call", "outcome": "passed", "kind": "integration",
         "statements": 2},
        {"type": "test", "nodeid": "t.py::failed", "when": "call", "outcome": "failed", "kind": "integration"},
        {"type": "statements", "nodeid": "t.py::failed", "kind": "integration", "statements": 9},
        {"type": "test", "nodeid": "t.py::none", "when": "call", "outcome": "passed", "kind": "integration"},
        {"type": "test", "nodeid": "u.py::unit", "when": "call", "outcome": "passed", "kind": "unit", "statements": 50},
        {"type": "statements", "nodeid": "u.py::other", "kind": "unit", "statements": 60},
        *({"type": "test", "nodeid": f"m.py::t{n:02}", "when": "call", "outcome": "passed", "kind": "integration",
           "statements": 2} for n in range(12)),
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    project = find_project(str(tmp_path))
    result = read_events(events, "integration", project, only_kind=True)
    got = [(t.nodeid, t.statements) for t in result.heaviest]
    assert len(got) == HEAVIEST == 10
    assert got[0] == ("t.py::failed", 9) and got[1:] == [(f"m.py::t{n:02}", 2) for n in range(9)]
    assert result.counts["total"] == 15
    unit = read_events(events, "unit", project, only_kind=True)
    assert [(t.nodeid, t.statements) for t in unit.heaviest] == [("u.py::other", 60), ("u.py::unit", 50)]
    assert read_events(events, "integration", project).to_model().heaviest[0].statements == 60
