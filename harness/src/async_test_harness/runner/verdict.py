"""The run's exit code and the reason it gives, from facts: a pure function, table-tested.

The passes, the server and the coverage reports gather the facts (``Facts``: per pass its status,
pytest's exit code, usage and infrastructure errors, the tests that did not report; the run's
interruption, unwritable results, thresholds missed, the shard); ``decide`` turns them into the
verdict. Nothing else decides an exit code (tests/unit/test_verdict.py holds every combination).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..messages import one_line
from ..summary.model import InfrastructureError

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRASTRUCTURE = 3
EXIT_COVERAGE = 4
EXIT_NO_TESTS = 5
EXIT_INTERRUPTED = 130

EXIT_REASONS = {
    EXIT_OK: ("ok", "all selected tests passed"),
    EXIT_TESTS_FAILED: ("tests_failed", "tests failed"),
    EXIT_USAGE: ("usage_error", "usage or configuration error"),
    EXIT_INFRASTRUCTURE: ("infrastructure_error", "infrastructure failure"),
    EXIT_COVERAGE: ("coverage_below_threshold", "coverage below threshold"),
    EXIT_NO_TESTS: ("no_tests", "no tests collected in either pass"),
    EXIT_INTERRUPTED: ("interrupted", "interrupted"),
}



@dataclass(frozen=True)
class PassFacts:
    """What one pass did, as far as the verdict cares."""

    kind: str
    selected: bool = True  # asked for (``--only`` the other kind: not)
    status: str = "passed"  # passed, failed, empty, error, interrupted, not-run
    exit_code: Optional[int] = 0  # pytest's
    usage_error: bool = False  # the plugin reported one (a bad option value)
    infrastructure_error: Optional[InfrastructureError] = None  # the database did not start, or was lost
    status_reason: Optional[str] = None  # why the status, when the tests do not say (pytest.exit, a signal)
    unreported: int = 0  # selected tests that never reported (counted among the pass's failures)


@dataclass(frozen=True)
class Facts:
    passes: Tuple[PassFacts, ...]
    interrupted: bool = False  # Ctrl-C or SIGTERM reached the runner
    results_error: Optional[str] = None  # results that could not be written (a full disk)
    below: Tuple[str, ...] = ()  # coverage thresholds missed, one line each
    shard: Optional[str] = None  # "K/N" in a shard run: thresholds are combine's to check
    shard_collected: Optional[int] = None  # tests all shards together collected (None: unknown)
    affected_collected: Optional[int] = None  # --affected: the tests collected, of which the change selected some


@dataclass(frozen=True)
class Verdict:
    code: int
    name: str
    reason: str
    infrastructure_error: Optional[InfrastructureError] = None
    below: Tuple[str, ...] = ()  # the thresholds missed, as summary.json reports them (none in a shard)
    empty_shard: bool = False  # more shards than modules: this one had nothing to run, not a failure


def decide(facts: Facts) -> Verdict:
    """The exit code says what went wrong first: interrupted, infrastructure, configuration, tests
    (a test that did not report is a failed test), coverage, nothing to test."""
    code, infra, empty_shard = _code(facts)
    below = () if facts.shard is not None else facts.below
    name, reason = EXIT_REASONS[code]
    if empty_shard and facts.affected_collected is not None:
        reason = f"shard {facts.shard} had nothing to run: the tests the change affects are in the other shards"
    elif empty_shard:
        reason = f"shard {facts.shard} had nothing to run: the other shards run every test"
    elif code == EXIT_OK and facts.affected_collected and all(p.status == "empty" for p in facts.passes if p.selected):
        reason = f"the change affects none of the {facts.affected_collected} collected tests (--affected): none ran"
    elif code == EXIT_INFRASTRUCTURE and infra is not None:
        reason = f"infrastructure failure: {one_line(str(infra.message))}"
    elif code == EXIT_COVERAGE:
        reason = "; ".join(below)
    elif code in (EXIT_TESTS_FAILED, EXIT_USAGE):
        # Failed tests speak for themselves (they are listed); a pass that ended without one that explains
        # it (killed, an internal error) says why, even when the other pass has failures to list; tests
        # that never reported are counted, since nothing else in the list says they are missing.
        failed = any(p.status == "failed" for p in facts.passes)
        lost = [f"{p.kind} pass: {p.unreported} selected test(s) did not report" for p in facts.passes if p.unreported]
        unexplained = [f"{p.kind} pass: {p.status_reason}" for p in facts.passes if p.status_reason]
        if lost or unexplained:
            reason = "; ".join(([reason] if failed and code == EXIT_TESTS_FAILED else []) + unexplained + lost)
    return Verdict(code, name, reason, infra, below, empty_shard)


def _code(facts: Facts) -> Tuple[int, Optional[InfrastructureError], bool]:
    passes = [p for p in facts.passes if p.selected]
    if facts.interrupted:
        return EXIT_INTERRUPTED, None, False
    infra = [p.infrastructure_error for p in passes if p.infrastructure_error]
    if infra:
        return EXIT_INFRASTRUCTURE, infra[0], False
    if facts.results_error:
        return EXIT_INFRASTRUCTURE, InfrastructureError("results", facts.results_error), False
    if any(p.exit_code == 4 or p.usage_error for p in passes):
        return EXIT_USAGE, None, False
    if any(p.status in ("failed", "error") or p.unreported for p in passes):
        return EXIT_TESTS_FAILED, None, False
    if facts.below and facts.shard is None:
        return EXIT_COVERAGE, None, False
    if all(p.status == "empty" for p in passes):
        if facts.shard is not None and facts.shard_collected != 0:
            return EXIT_OK, None, True  # more shards than modules: another shard runs every test
        if facts.affected_collected:
            return EXIT_OK, None, False  # --affected: the change reaches none of the collected tests ("ran 0 of N")
        return EXIT_NO_TESTS, None, False
    return EXIT_OK, None, False
