"""The run's exit code and reason (runner/verdict.py): every combination of the facts, as a table.

The precedence is the documented one (docs/run.md): interrupted 130, infrastructure 3, usage 2,
tests 1 (a failed or errored pass, or a selected test that did not report), coverage 4, nothing
to test 5 (or 0 for a shard that had nothing to run), else 0.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import pytest

from async_test_harness.runner.verdict import (
    EXIT_COVERAGE,
    EXIT_INFRASTRUCTURE,
    EXIT_INTERRUPTED,
    EXIT_NO_TESTS,
    EXIT_OK,
    EXIT_TESTS_FAILED,
    EXIT_USAGE,
    Facts,
    PassFacts,
    decide,
)
from async_test_harness.summary.model import InfrastructureError

DB_LOST = InfrastructureError("database", "PostgreSQL stopped during the integration pass")
BELOW = ("combined coverage 50.00% < 80%",)


@dataclass(frozen=True)
class Case:
    interrupted: bool
    infrastructure: bool
    results_error: bool
    usage: bool
    unit: str  # the unit pass's status
    integration: str
    unreported: int
    below: bool
    shard: Optional[str]
    shard_collected: Optional[int]

    def facts(self) -> Facts:
        exit_codes = {"passed": 0, "failed": 1, "error": 3, "empty": 5}
        unit = PassFacts("unit", status=self.unit, exit_code=4 if self.usage else exit_codes[self.unit],
                         unreported=self.unreported)
        integration = PassFacts("integration", status=self.integration, exit_code=exit_codes[self.integration],
                                infrastructure_error=DB_LOST if self.infrastructure else None)
        return Facts((unit, integration), interrupted=self.interrupted,
                     results_error="could not write summary.json" if self.results_error else None,
                     below=BELOW if self.below else (), shard=self.shard, shard_collected=self.shard_collected)

    def expected(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.infrastructure or self.results_error:
            return EXIT_INFRASTRUCTURE
        if self.usage:
            return EXIT_USAGE
        if self.unit in ("failed", "error") or self.unreported:
            return EXIT_TESTS_FAILED
        if self.below and self.shard is None:
            return EXIT_COVERAGE
        if self.unit == self.integration == "empty":
            return EXIT_OK if self.shard is not None and self.shard_collected != 0 else EXIT_NO_TESTS
        return EXIT_OK


SHARDS = [(None, None), ("2/2", 4), ("2/2", 0), ("2/2", None)]
CASES = [Case(i, inf, res, use, unit, integ, unrep, below, shard, collected)
         for i, inf, res, use, unit, integ, unrep, below, (shard, collected) in itertools.product(
             (False, True), (False, True), (False, True), (False, True), ("passed", "failed", "error", "empty"),
             ("passed", "empty"), (0, 2), (False, True), SHARDS)]


def test_every_combination_of_the_facts_gives_the_exit_code_of_the_first_thing_that_went_wrong():
    assert len(CASES) == 2 ** 4 * 4 * 2 * 2 * 2 * len(SHARDS)
    wrong = [(case, decide(case.facts()).code) for case in CASES if decide(case.facts()).code != case.expected()]
    assert not wrong, wrong[:5]
    # the table is not degenerate: every exit code is reached
    assert {case.expected() for case in CASES} == {0, 1, 2, 3, 4, 5, 130}


def test_a_test_that_did_not_report_fails_a_run_that_is_otherwise_green_or_empty():
    for status in ("passed", "empty"):
        verdict = decide(Facts((PassFacts("unit", status=status, exit_code=0, unreported=3),
                                PassFacts("integration", status="passed"))))
        assert verdict.code == EXIT_TESTS_FAILED
        assert verdict.reason == "unit pass: 3 selected test(s) did not report"


def test_a_shard_that_lost_tests_is_not_a_shard_with_nothing_to_run():
    verdict = decide(Facts((PassFacts("unit", status="empty", exit_code=5, unreported=1),
                            PassFacts("integration", status="empty", exit_code=5)), shard="2/2", shard_collected=8))
    assert verdict.code == EXIT_TESTS_FAILED and not verdict.empty_shard
    assert "nothing to run" not in verdict.reason


@pytest.mark.parametrize("unit, integration, reason", [
    (PassFacts("unit", status="failed", exit_code=1), PassFacts("integration"), "tests failed"),
    (PassFacts("unit", status="failed", exit_code=1, unreported=2), PassFacts("integration"),
     "tests failed; unit pass: 2 selected test(s) did not report"),
    (PassFacts("unit", status="error", exit_code=-9, status_reason="pytest was killed by SIGKILL", unreported=4),
     PassFacts("integration", status="failed", exit_code=1),
     "tests failed; unit pass: pytest was killed by SIGKILL; unit pass: 4 selected test(s) did not report"),
    (PassFacts("unit", status="error", exit_code=2, status_reason="a test called pytest.exit()"),
     PassFacts("integration"), "unit pass: a test called pytest.exit()"),
    (PassFacts("unit", status="error", exit_code=4, status_reason="usage or configuration error: bad"),
     PassFacts("integration"), "unit pass: usage or configuration error: bad"),
    (PassFacts("unit", status="empty", exit_code=5), PassFacts("integration", status="empty", exit_code=5),
     "no tests collected in either pass"),
    (PassFacts("unit"), PassFacts("integration"), "all selected tests passed"),
], ids=["failed", "failed-and-lost", "killed-lost-and-failed", "pytest-exit", "usage", "empty", "ok"])
def test_the_reason_says_what_the_list_of_failures_does_not(unit, integration, reason):
    assert decide(Facts((unit, integration))).reason == reason


def test_infrastructure_names_the_first_error_and_a_results_error_is_one():
    verdict = decide(Facts((PassFacts("unit", status="failed", exit_code=1),
                            PassFacts("integration", status="error", infrastructure_error=DB_LOST))))
    assert verdict.code == EXIT_INFRASTRUCTURE and verdict.infrastructure_error == DB_LOST
    assert verdict.reason == "infrastructure failure: PostgreSQL stopped during the integration pass"
    verdict = decide(Facts((PassFacts("unit"), PassFacts("integration")), results_error="disk full"))
    assert verdict.infrastructure_error == InfrastructureError("results", "disk full")
    assert verdict.name == "infrastructure_error"


def test_thresholds_fail_a_run_but_not_a_shard_which_leaves_them_to_combine():
    verdict = decide(Facts((PassFacts("unit"), PassFacts("integration")), below=BELOW))
    assert (verdict.code, verdict.reason, verdict.below) == (EXIT_COVERAGE, BELOW[0], BELOW)
    verdict = decide(Facts((PassFacts("unit"), PassFacts("integration")), below=BELOW, shard="1/2"))
    assert (verdict.code, verdict.below) == (EXIT_OK, ())


def test_a_pass_left_out_with_only_does_not_count():
    verdict = decide(Facts((PassFacts("unit"), PassFacts("integration", selected=False, status="not-run",
                                                         exit_code=None))))
    assert verdict.code == EXIT_OK
    verdict = decide(Facts((PassFacts("unit", status="empty", exit_code=5),
                            PassFacts("integration", selected=False, status="failed", exit_code=1))))
    assert verdict.code == EXIT_NO_TESTS


def test_an_empty_shard_says_so():
    verdict = decide(Facts((PassFacts("unit", status="empty", exit_code=5),
                            PassFacts("integration", status="empty", exit_code=5)), shard="3/4", shard_collected=2))
    assert verdict.code == EXIT_OK and verdict.empty_shard
    assert verdict.reason == "shard 3/4 had nothing to run: the other shards run every test"
