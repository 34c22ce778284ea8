"""The affected selection (affected.py) and the map's blocks (testmap.py), as tables: pure, no pytest run.

tests/integration/test_affected_run.py records a real map and runs a real selection.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Dict, List, Set

import pytest

from async_test_harness import __version__
from async_test_harness.affected import ADDED, DELETED, MODIFIED, Change, importers, parse_diff, select
from async_test_harness.testmap import MODULE, TestMap, block_of, function_ranges

SERVICE = textwrap.dedent('''\
    import os
    LIMIT = 10


    def helper(x):
        return x + 1


    class Service:
        rate = 3

        def total(self, items):
            if not items:
                return 0
            return sum(items)

        def unused(self):
            return LIMIT
    ''')
# lines: 5 def helper / 6 body; 9 class; 10 rate; 12 def total; 13-15 body; 17 def unused; 18 body

SOURCES: Dict[str, str] = {
    "app/service.py": SERVICE,
    "app/api.py": "from app.service import Service\n\n\ndef handler():\n    return Service().total([1])\n",
    "app/other.py": "def alone():\n    return 1\n",
    "app/lazy.py": "X = 1\n",
    "app/reports.py": "def monthly():\n    return 1\n",
    "tests/test_service.py": "from app.service import helper\n\n\ndef test_helper():\n    assert helper(1) == 2\n",
    "tests/test_api.py": "def test_handler():\n    pass\n",
    "tests/test_other.py": "def test_alone():\n    pass\n",
}


def _map(**overrides: object) -> TestMap:
    tests = ["tests/test_service.py::test_helper", "tests/test_service.py::test_total",
             "tests/test_api.py::test_handler", "tests/test_other.py::test_alone"]
    ranges = function_ranges(SERVICE)
    total = block_of(ranges, 13)
    helper = block_of(ranges, 6)
    files = {
        "app/service.py": {"functions": [list(r) for r in ranges],
                           "blocks": {str(helper): [0], str(total): [1, 2]}, "import_time": [MODULE]},
        "app/api.py": {"functions": [[4, 5]], "blocks": {"0": [2]}, "import_time": [MODULE]},
        "app/other.py": {"functions": [[2, 2]], "blocks": {"0": [3]}, "import_time": [MODULE]},
        "app/lazy.py": {"functions": [], "blocks": {}, "import_time": [MODULE]},
        # measured (a coverage source) but never imported: no test ran any of its lines
        "app/reports.py": {"functions": [[2, 2]], "blocks": {}, "import_time": []},
    }
    base = dict(tests=tests, files=files, failed=[], base_commit="abc", dirty=False, project=".",
                harness_version=__version__)
    base.update(overrides)
    return TestMap(**base)  # type: ignore[arg-type]


def run(changes: List[Change], testmap: TestMap | None = None,
        project: str = ".") -> tuple[bool, str, Set[str], Set[str]]:
    sel = select(testmap or _map(), changes, SOURCES, project, __version__)
    return sel.run_all, sel.reason, sel.nodeids, sel.test_files


def test_blocks_are_function_bodies_innermost_first() -> None:
    ranges = function_ranges(SERVICE)
    assert block_of(ranges, 6) != MODULE
    assert block_of(ranges, 5) == MODULE  # the def line runs at import
    assert block_of(ranges, 10) == MODULE  # a class body too
    assert block_of(ranges, 14) == block_of(ranges, 13) != block_of(ranges, 18)
    nested = function_ranges("def outer():\n    def inner():\n        return 1\n    return inner\n")
    assert block_of(nested, 3) != block_of(nested, 4)  # inner's body is inner's, outer's def inner line is outer's
    assert block_of(nested, 2) == block_of(nested, 4)


@pytest.mark.parametrize("lines, expected", [
    ({6}, {"tests/test_service.py::test_helper"}),  # helper's body: the one test that entered it
    # a line no test ran, in a function two ran
    ({14}, {"tests/test_service.py::test_total", "tests/test_api.py::test_handler"}),
    ({18}, set()),  # a function no test entered: nothing can see the change
])
def test_a_line_inside_a_function_selects_the_tests_that_entered_it(lines: Set[int], expected: Set[str]) -> None:
    run_all, _, nodeids, files = run([Change("app/service.py", MODIFIED, lines)])
    assert not run_all and nodeids == expected and not files


@pytest.mark.parametrize("line", [2, 10, 5])  # a constant, a class attribute, a signature
def test_top_level_code_selects_the_module_its_importers_and_their_test_files(line: int) -> None:
    run_all, _, nodeids, files = run([Change("app/service.py", MODIFIED, {line})])
    assert not run_all
    # every test that ran service.py, plus api.py's (api.py imports service), plus test files importing it
    assert nodeids == {"tests/test_service.py::test_helper", "tests/test_service.py::test_total",
                       "tests/test_api.py::test_handler"}
    assert files == {"tests/test_service.py"}


def test_a_function_that_ran_at_import_time_counts_as_top_level() -> None:
    testmap = _map()
    # alone() was called while importing (an app factory at module level): no test's context ran it
    testmap.files["app/other.py"].update(blocks={}, import_time=[MODULE, 0])
    run_all, reason, _, _ = run([Change("app/other.py", MODIFIED, {2})], testmap)
    # as top-level code: nothing imports other.py and no test ran it, so the map cannot say; never "no test"
    assert run_all and "app/other.py" in reason
    testmap.files["app/service.py"]["import_time"] = [MODULE, block_of(function_ranges(SERVICE), 18)]
    run_all, _, nodeids, _ = run([Change("app/service.py", MODIFIED, {18})], testmap)
    assert not run_all and "tests/test_api.py::test_handler" in nodeids  # through api.py, its importer


@pytest.mark.parametrize("path, words", [
    ("uv.lock", "uv.lock changed"), ("backend/poetry.lock", "poetry.lock"), ("requirements-dev.txt", "requirements"),
    ("pyproject.toml", "pyproject.toml"), ("setup.cfg", "setup.cfg"), ("tests/conftest.py", "conftest.py"),
    ("alembic/versions/0002_add.py", "migrations"), ("app/migrations/0001.py", "migrations"),
    ("schema.sql", "schema.sql"), (".env", ".env"), ("pytest.ini", "pytest.ini"), (".coveragerc", ".coveragerc"),
    ("settings.toml", "settings.toml"), ("app/templates/mail.html", "not Python"),
])
def test_files_coverage_does_not_measure_run_everything(path: str, words: str) -> None:
    run_all, reason, nodeids, _ = run([Change("app/service.py", MODIFIED, {6}), Change(path, MODIFIED, {1})])
    assert run_all and words in reason and not nodeids


def test_documentation_changes_nothing() -> None:
    changes = [Change("README.md"), Change("docs/guide.rst"), Change(".github/workflows/ci.yml")]
    run_all, _, nodeids, files = run(changes)
    assert not run_all and not nodeids and not files


@pytest.mark.parametrize("change, why", [
    (Change("app/lazy.py", MODIFIED, {1}), "run by no recorded test and imported by no module"),
    # inside a function of a module no test imports: who calls it is unknown (a new user's report)
    (Change("app/reports.py", MODIFIED, {2}), "run by no recorded test and imported by no module"),
    (Change("app/new_module.py", ADDED), "(new)"),
    (Change("scripts/tool.py", MODIFIED, {1}), "run by no recorded test"),
])
def test_a_diff_the_map_does_not_cover_runs_everything(change: Change, why: str) -> None:
    run_all, reason, _, _ = run([change])
    assert run_all and why in reason and change.path in reason


def test_changed_and_new_test_files_run_whole_and_base_failures_always_run() -> None:
    testmap = _map(failed=["tests/test_other.py::test_alone"])
    run_all, _, nodeids, files = run([Change("tests/test_api.py", MODIFIED, {2}), Change("tests/test_new.py", ADDED)],
                                     testmap)
    assert not run_all
    assert files == {"tests/test_api.py", "tests/test_new.py"}
    assert nodeids == {"tests/test_other.py::test_alone"}


def test_a_deleted_module_is_all_top_level() -> None:
    run_all, _, nodeids, _ = run([Change("app/service.py", DELETED)])
    assert not run_all and "tests/test_api.py::test_handler" in nodeids


@pytest.mark.parametrize("overrides, words", [
    ({"harness_version": "0.0.1"}, "recorded by async-test 0.0.1"),
    ({"project": "backend"}, "the project in 'backend'"),
    ({"base_commit": None}, "outside a git repository"),
    ({"dirty": True}, "uncommitted changes"),
])
def test_a_map_that_does_not_fit_runs_everything(overrides: Dict[str, object], words: str) -> None:
    run_all, reason, _, _ = run([Change("app/service.py", MODIFIED, {6})], _map(**overrides))
    assert run_all and words in reason


def test_a_project_in_a_subfolder_names_test_files_as_pytest_does() -> None:
    testmap = _map(project="backend")
    sel = select(testmap, [Change("backend/tests/test_x.py", ADDED)], {}, "backend", __version__)
    assert not sel.run_all and sel.test_files == {"tests/test_x.py"}


def test_importers_follow_relative_and_transitive_imports() -> None:
    sources = {"pkg/__init__.py": "", "pkg/a.py": "X = 1\n", "pkg/b.py": "from .a import X\n",
               "pkg/sub/c.py": "from ..b import X\n", "pkg/d.py": "import pkg.sub.c\n", "pkg/e.py": "import json\n"}
    assert importers(sources, ["pkg/a.py"]) == {"pkg/b.py", "pkg/sub/c.py", "pkg/d.py"}


def test_parse_diff_numbers_lines_as_in_the_base() -> None:
    diff = textwrap.dedent('''\
        diff --git a/app/service.py b/app/service.py
        index 1..2 100644
        --- a/app/service.py
        +++ b/app/service.py
        @@ -6 +6 @@ def helper(x):
        -    return x + 1
        +    return x - 1
        @@ -12,0 +13,2 @@ class Service:
        +        pass
        +        pass
        diff --git a/gone.py b/gone.py
        deleted file mode 100644
        --- a/gone.py
        +++ /dev/null
        @@ -1,2 +0,0 @@
        -a
        -b
        diff --git a/new.py b/new.py
        new file mode 100644
        --- /dev/null
        +++ b/new.py
        @@ -0,0 +1 @@
        +x = 1
        ''')
    changes = {c.path: c for c in parse_diff(diff)}
    assert changes["app/service.py"].lines == {6, 12, 13} and changes["app/service.py"].status == MODIFIED
    assert changes["gone.py"].status == DELETED and changes["gone.py"].lines == {1, 2}
    assert changes["new.py"].status == ADDED


# ------------------------------------------------------------------ the action's select input

from async_test_harness.github.affected_select import SelectError, arguments  # noqa: E402


@pytest.mark.parametrize("env, expected", [
    ({}, []),
    ({"INPUT_SELECT": "all", "GITHUB_EVENT_NAME": "pull_request"}, []),
    ({"INPUT_SELECT": "affected", "GITHUB_EVENT_NAME": "pull_request"},
     ["--affected", "/workspace/.async-test-baseline", "--affected-missing-ok"]),
    ({"INPUT_SELECT": "affected", "GITHUB_EVENT_NAME": "push"},  # a push always runs everything, and records
     ["--record-map"]),  # the action stores the map with the baseline (the container writes only its results)
    ({"INPUT_SELECT": "affected", "GITHUB_EVENT_NAME": "schedule", "INPUT_AFFECTED_BASE": "backend/base/"},
     ["--record-map"]),
])
def test_select_input(env: Dict[str, str], expected: List[str]) -> None:
    assert arguments(env) == expected


@pytest.mark.parametrize("env, words", [
    ({"INPUT_SELECT": "some"}, "select: 'some' is not one of all, affected"),
    ({"INPUT_SELECT": "affected", "INPUT_AFFECTED_BASE": "/tmp/x"}, "must be a folder inside the repository"),
    ({"INPUT_SELECT": "affected", "INPUT_AFFECTED_BASE": "../x"}, "must be a folder inside the repository"),
])
def test_select_input_refuses_in_one_line(env: Dict[str, str], words: str) -> None:
    with pytest.raises(SelectError, match=re.escape(words)):
        arguments(env)


# ------------------------------------------------------------------ the job summary and comment


def test_job_summary_says_what_an_affected_run_ran() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_github_report import CASES

    from async_test_harness.github.markdown import render
    from async_test_harness.summary.model import Summary

    doc = dict(CASES["passing"], affected={"line": "ran 5 of 13 tests (affected by 1 changed file)", "run_all": False,
                                          "reason": None, "selected": 5, "collected": 13, "changed_files": 1})
    text = render(Summary.from_json(doc))
    assert ("**Affected tests**: ran 5 of 13 tests (affected by 1 changed file); coverage covers only the tests "
            "that ran") in text
    doc["affected"] = {"line": "ran every test: uv.lock changed", "run_all": True, "reason": "uv.lock changed"}
    assert "**Affected tests**: ran every test: uv.lock changed\n" in render(Summary.from_json(doc))
    assert "Affected tests" not in render(Summary.from_json(CASES["passing"]))


# ------------------------------------------------------------------ --affected BASE: a results or baseline folder

from async_test_harness.runner.affected_run import base_problem  # noqa: E402


def test_affected_base_must_exist_unless_missing_is_ok(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    problem = base_problem(missing, False)
    assert problem is not None and "no such folder" in problem and "--affected-missing-ok" in problem
    assert base_problem(missing, True) is None  # the action's first pull request: nothing restored yet
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a results folder or a baseline" in (base_problem(empty, False) or "")
    assert base_problem(empty, True) is None
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    for ok in (False, True):  # a folder of something else is a mistake either way
        assert "not a results folder or a baseline" in (base_problem(other, ok) or "")
    assert "not a folder" in (base_problem(other / "notes.txt", True) or "")
    for name in ("testmap.json", "baseline.json", "summary.json"):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        (folder / name).write_text("{}")
        assert base_problem(folder, False) is None


def test_a_map_that_cannot_be_stored_is_one_line(tmp_path: Path) -> None:
    from async_test_harness.runner.affected_run import store_with_baseline

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "testmap.json").write_text("{}")
    (tmp_path / "a-file").write_text("x")
    line = store_with_baseline(tmp_path / "results", tmp_path / "a-file" / "baseline")  # not writable there
    assert line.startswith("async-test: test map not stored in ") and "\n" not in line
    assert store_with_baseline(tmp_path / "results", tmp_path / "ok").endswith("ok/testmap.json")
