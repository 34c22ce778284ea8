"""The job's verdict relative to the base (issue 25): which failures fail it, and how much worse than
the base it may get. A pure function of the run's exit code and the comparison.

* ``fail_on="new"``: a run whose every failing test also fails on the base passes (exit 0), and says
  so loudly: a team fixing a broken main must not have every pull request red meanwhile. Without a
  comparison the failures cannot be told apart, so they fail the job, as with ``any``.
* ``max_drop``: the most each coverage figure (``combined``, ``unit``, ``integration``) may fall
  below the base's, in percentage points (Codecov's ``threshold``); beyond it: exit 4, as for a
  coverage threshold.
* ``fail_on_query_regressions``: any query regression fails the job with exit 7.

The gates apply only to a run that otherwise passed (exit 0) or failed only on tests (exit 1 with
``fail_on="new"``); a usage or infrastructure failure, or a coverage threshold, keeps its own code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .compare import FIGURE_NAMES, Comparison

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_COVERAGE = 4
EXIT_QUERY_REGRESSIONS = 7
FAIL_ON = ("any", "new")


class GateError(ValueError):
    """A gate option's value is unusable; the message says how to write it."""


@dataclass(frozen=True)
class Gates:
    fail_on: str = "any"
    max_drop: Dict[str, float] = field(default_factory=dict)  # figure -> points
    fail_on_query_regressions: bool = False

    @property
    def any_set(self) -> bool:
        return self.fail_on != "any" or bool(self.max_drop) or self.fail_on_query_regressions


def parse_max_drop(text: str) -> Dict[str, float]:
    """``1`` (every figure) or ``combined=0.5,unit=2``: the most each figure may drop, in points."""
    text = text.strip()
    if not text:
        return {}
    try:
        if "=" not in text:
            return dict.fromkeys(FIGURE_NAMES, _points(text))
        drops = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            if name.strip() not in FIGURE_NAMES:
                raise GateError(f"{name.strip()!r} is not a coverage figure")
            drops[name.strip()] = _points(value)
        return drops
    except GateError as exc:
        raise GateError(f"max coverage drop {text!r}: {exc}. Give points as a number (every figure), or per "
                        "figure, e.g. combined=0.5,unit=2 (figures: combined, unit, integration)") from None


def _points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GateError(f"{text.strip()!r} is not a number") from None
    if not 0 <= value <= 100:
        raise GateError(f"{value:g} is not between 0 and 100")
    return value


def verdict(run_code: int, comparison: Optional[Comparison], gates: Gates) -> Tuple[int, List[str]]:
    """The job's exit code and the lines that explain any change from ``run_code``."""
    lines: List[str] = []
    code = run_code
    if run_code == EXIT_TESTS_FAILED and gates.fail_on == "new":
        if comparison is None:
            lines.append("fail-on: new, but there is no baseline to tell new failures from old ones: "
                         "every failure fails the job")
        elif not comparison.new_failures and comparison.old_failures:
            code = EXIT_OK
            lines.append(f"PASSING DESPITE {len(comparison.old_failures)} FAILING TEST(S): every one also fails "
                         "on the base, and fail-on is new. Fix them on the base branch.")
        elif comparison.new_failures:
            lines.append(f"{len(comparison.new_failures)} failure(s) new in this change fail the job (fail-on: new)")
    if code != EXIT_OK or comparison is None:
        return code, lines
    dropped = []
    for name, limit in gates.max_drop.items():
        delta = comparison.figure(name).delta
        if delta is not None and -delta > limit:
            dropped.append(f"{name} coverage fell {-delta:.2f} points (at most {limit:g} allowed)")
    if dropped:
        return EXIT_COVERAGE, [*lines, "; ".join(dropped)]
    if gates.fail_on_query_regressions and comparison.query_regressions:
        count = len(comparison.query_regressions)
        return EXIT_QUERY_REGRESSIONS, [*lines, f"{count} query regression(s) fail the job (fail-on-query-regressions)"]
    return code, lines
