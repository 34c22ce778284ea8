"""carryforward.py on hand-made maps and coverage: the union per pass, changed files never carried, and
the one-line reasons it gives up (the real runs are in tests/integration/test_affected_coverage.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from async_test_harness.carryforward import Carried, carry, figures, remap
from async_test_harness.summary.model import Coverage, FileCoverage
from async_test_harness.testmap import TestMap


def file(path: str, unit: set, integration: set, statements: set) -> FileCoverage:
    both = unit & integration
    covered = unit | integration
    return FileCoverage(path, len(statements), round(100.0 * len(covered) / len(statements), 2),
                        tuple(sorted(unit - integration)), tuple(sorted(integration - unit)), tuple(sorted(both)),
                        tuple(sorted(statements - covered)))


def run_coverage(*files: FileCoverage, every_file: bool = True) -> Coverage:
    totals = figures(files, every_file=every_file)
    return Coverage(unit=totals["unit"], integration=totals["integration"], combined=totals["combined"], files=files)


TESTMAP = TestMap(
    tests=["t_unit_a", "t_unit_b", "t_int"], kinds=["unit", "unit", "integration"], has_lines=True,
    base_commit="abcdef0123456789",
    files={"app/a.py": {"lines": [[[0], [2, 3]], [[1], [5, 6]], [[2], [6, 7]]]},
           "app/b.py": {"lines": [[[1, 2], [1, 2]]]}})


def test_left_out_lines_join_per_pass_and_changed_files_stay_measured() -> None:
    cov = run_coverage(file("app/a.py", {1, 2, 3}, set(), set(range(1, 9))),
                       file("app/b.py", {9}, set(), {1, 2, 9}))
    done = carry(cov, TESTMAP, ["t_unit_b", "t_int"], ["app/b.py"], every_file=True)
    assert isinstance(done, Carried)
    a, b = done.coverage.files
    assert a.carried_forward and a.unit_only == (1, 2, 3, 5) and a.both == (6,) and a.integration_only == (7,)
    assert a.neither == (4, 8)
    assert b == cov.files[1]  # changed: never carried (its line numbers moved)
    assert done.files == 1 and done.line == "1 file carried forward from the baseline (abcdef0)"
    assert done.coverage.combined is not None and done.coverage.combined.covered_lines == 6 + 1
    assert done.coverage.integration is not None and done.coverage.integration.covered_lines == 2


def test_tests_that_ran_are_not_taken_from_the_base() -> None:
    cov = run_coverage(file("app/a.py", {1}, set(), set(range(1, 9))), file("app/b.py", set(), set(), {1, 2}))
    done = carry(cov, TESTMAP, ["t_unit_b"], [], every_file=True)  # t_unit_a ran: its base lines are stale
    assert isinstance(done, Carried) and done.coverage.files[0].unit_only == (1, 5, 6)


def test_reasons_to_keep_the_run_figures() -> None:
    cov = run_coverage(file("app/a.py", {1}, set(), set(range(1, 9))))
    assert "no line data" in str(carry(cov, replace(TESTMAP, has_lines=False), ["t_int"], [], True))
    branchy = replace(cov, combined=replace(cov.combined, percent=10.0))  # type: ignore[type-var]
    assert "branch coverage" in str(carry(branchy, TESTMAP, ["t_int"], [], True))
    damaged = replace(TESTMAP, files={"app/a.py": {"lines": [[7, 8]]}})
    assert "damaged" in str(carry(cov, damaged, ["t_int"], [], True))
    assert "no coverage" in str(carry(Coverage(), TESTMAP, ["t_int"], [], True))


def test_a_file_only_left_out_tests_ran_must_be_in_the_report() -> None:
    cov = run_coverage(file("app/a.py", {1}, set(), set(range(1, 9))), every_file=False)  # no app/b.py
    assert "app/b.py is run only by tests left out" in str(carry(cov, TESTMAP, ["t_int"], [], False))
    assert isinstance(carry(cov, TESTMAP, ["t_int"], ["app/b.py"], False), Carried)  # deleted: nothing to report


@pytest.mark.parametrize("hunks, expected", [
    ([], {1, 5, 9}),
    ([(5, 1, 5, 1)], {1, 9}),  # line 5 replaced: the selection ran its tests, it is not carried
    ([(2, 0, 3, 2)], {1, 7, 11}),  # two lines inserted after line 2
    ([(2, 2, 2, 0)], {1, 3, 7}),  # lines 2-3 removed
    ([(2, 0, 3, 1), (6, 1, 7, 3)], {1, 6, 12}),  # one inserted, then line 6 replaced by three
])
def test_remap_moves_the_base_lines_to_the_head(hunks, expected):
    assert remap({1, 5, 9}, hunks) == expected


@pytest.mark.parametrize("text", ["{not json", "[]", '{"base_commit": 5, "files": {}}',
                                  '{"base_commit": "abc", "files": {"a.py": {"unit": ["x"], "integration": []}}}',
                                  '{"base_commit": "abc", "files": {"a.py": {"unit": []}}}'])
def test_a_shards_lines_to_carry_that_cannot_be_read_are_one_line(tmp_path, text):
    from async_test_harness.runner.affected_run import CARRY_FILE, read_carry

    (tmp_path / CARRY_FILE).write_text(text)
    found = read_carry(tmp_path)
    assert isinstance(found, str) and CARRY_FILE in found


def test_a_shards_lines_to_carry_are_read_back(tmp_path):
    from async_test_harness.runner.affected_run import CARRY_FILE, read_carry

    (tmp_path / CARRY_FILE).write_text(
        '{"base_commit": "abc", "files": {"a.py": {"unit": [1, 2], "integration": [3]}}}')
    assert read_carry(tmp_path) == ("abc", {"a.py": {"unit": {1, 2}, "integration": {3}}})
    (tmp_path / CARRY_FILE).unlink()
    assert "holds no" in read_carry(tmp_path)
