"""The run's exit code and the reason it gives.
"""

from __future__ import annotations

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

