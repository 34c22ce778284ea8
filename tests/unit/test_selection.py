"""plugin/selection.py: the node ids a pytest process selected, and a list of node ids to keep."""

from __future__ import annotations

import json

from async_test_harness.plugin import selection
from async_test_harness.runner import pass_processes, results, run_state

TESTS = """\
import pytest


def test_unit():
    pass


@pytest.mark.integration
def test_integration():
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    pass
"""


def run(pytester, monkeypatch, *args, only=None):
    pytester.makepyfile(test_mod=TESTS)
    path = pytester.path / "selected.json"
    monkeypatch.setenv(selection.SELECTED_ENV, str(path))
    monkeypatch.setenv("ASYNC_TEST_KIND", "unit")  # configured: each test classified (no server: unit)
    if only is not None:
        (pytester.path / "only.json").write_text(json.dumps(only))
        monkeypatch.setenv(selection.ONLY_ENV, str(pytester.path / "only.json"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)
    return result, json.loads(path.read_text())["tests"]


def test_the_final_selection_is_written_with_each_tests_kind_and_line(pytester, monkeypatch):
    result, tests = run(pytester, monkeypatch, "-k", "not test_param[2]")
    result.assert_outcomes(passed=2, deselected=2)  # -k one, the kind the integration test
    assert tests == [
        ["test_mod.py::test_unit", "unit", "test_mod.py", 4],
        ["test_mod.py::test_param[1]", "unit", "test_mod.py", 13],  # pytest's location: the decorator
    ]
    assert not list(pytester.path.glob("selected.json.*")), "written whole, through a temporary file"


def test_only_the_listed_tests_are_kept(pytester, monkeypatch):
    result, tests = run(pytester, monkeypatch, only=["test_mod.py::test_param[2]", "test_mod.py::gone"])
    result.assert_outcomes(passed=1, deselected=3)
    assert [t[0] for t in tests] == ["test_mod.py::test_param[2]"]


def test_the_runner_and_the_plugin_name_the_same_variables():
    assert (run_state.SELECTED_ENV, run_state.ONLY_ENV) == (selection.SELECTED_ENV, selection.ONLY_ENV)


def test_the_list_is_in_run_order_and_says_so_outside_xdist(pytester, monkeypatch):
    """The runner reads the order to find the test a session ended in (runner/pass_processes.py)."""
    run(pytester, monkeypatch)
    document = json.loads((pytester.path / "selected.json").read_text())
    assert document["in_order"] is True
    path = pytester.path / "selected.json"
    assert results.read_selection(path).in_order
    path.write_text(json.dumps({"tests": document["tests"], "in_order": False}))  # what an xdist worker writes
    assert not results.read_selection(path).in_order
    path.write_text(json.dumps({"tests": document["tests"]}))  # an older plugin: the order is not known
    assert not results.read_selection(path).in_order


def _whole(order, reported, in_order=True):
    tests = [results.SelectedTest(nodeid, kind, "t.py", 1) for nodeid, kind in order]
    return results.PassResult("all", selected_tests=tests, selected_in_order=in_order, reported=set(reported))


def test_the_test_a_session_ended_in_is_the_first_in_run_order_that_did_not_report():
    order = [("i1", "integration"), ("i2", "integration"), ("u1", "unit"), ("u2", "unit")]
    assert pass_processes._ended_kind(_whole(order, {"i1"})) == "integration"
    assert pass_processes._ended_kind(_whole(order, {"i1", "i2"})) == "unit"
    # the order unknown (xdist) or nothing lost: the unit test, as before
    assert pass_processes._ended_kind(_whole(order, {"i1"}, in_order=False)) == "unit"
    assert pass_processes._ended_kind(_whole(order, {n for n, _ in order})) == "unit"
