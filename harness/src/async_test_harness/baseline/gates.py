"""The job's verdict relative to the base (issue 25): which failures fail it, and how much worse than
the base it may get. A pure function of the run's exit code and the comparison.

* ``fail_on="new"``: a run whose every failing test also fails on the base passes (exit 0), and says
  so loudly: a team fixing a broken main must not have every pull request red meanwhile. Without a
  comparison the failures cannot be told apart, so they fail the job, as with ``any``.
* ``max_drop``: the most each coverage figure (``combined``, ``unit``, ``integration``) may fall
  below the base's, in percentage points (Codecov's ``threshold``); beyond it: exit 4, as for a
  coverage threshold.
* ``fail_on_query_regressions``: any query regression fails the job with exit 7.
* ``fail_on_flaky``: a flaky test (failed, then passed on its re-run) fails the job with exit 1,
  with or without a comparison.

A gate changes the code of a run that otherwise passed (exit 0, or exit 1 forgiven by
``fail_on="new"``); a run that failed keeps its own code (tests 1, usage 2, infrastructure 3, a
coverage threshold 4, ...). When several gates trip, the code is the first's in ``GATE_ORDER``
(coverage 4, query regressions 7, flaky 1), and the verdict's ``failed: ...`` line names them all,
the run's own failure first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .compare import FIGURE_NAMES, Comparison

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_COVERAGE = 4
EXIT_QUERY_REGRESSIONS = 7
FAIL_ON = ("any", "new")
GATE_ORDER = (EXIT_COVERAGE, EXIT_QUERY_REGRESSIONS, EXIT_TESTS_FAILED)  # several tripped: the first's code
FAILED = "failed: "  # the verdict's last line when the job fails: every reason, with its figures
RUN_CODES = {2: "usage", 3: "infrastructure", 4: "coverage threshold", 5: "no tests", 6: "install"}


class GateError(ValueError):
    """A gate option's value is unusable; the message says how to write it."""


@dataclass(frozen=True)
class Gates:
    fail_on: str = "any"
    max_drop: Dict[str, float] = field(default_factory=dict)  # figure -> points
    fail_on_query_regressions: bool = False
    fail_on_flaky: bool = False

    @property
    def any_set(self) -> bool:
        return self.fail_on != "any" or bool(self.max_drop) or self.fail_on_query_regressions or self.fail_on_flaky


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


def verdict(run_code: int, comparison: Optional[Comparison], gates: Gates,
            flaky: Sequence[str] = ()) -> Tuple[int, List[str]]:
    """The job's exit code and the lines that explain it. When it is not 0 and a gate is set, the last
    line starts with
    ``FAILED`` and names every reason that tripped, with its figures (``failed: combined coverage
    dropped 2.30 points (limit 1); 2 new failures; 1 query regression``): a user fixing one must not
    meet the next only on the following run. The code is the run's own when it failed (1 unless
    ``fail_on="new"`` forgives every failure), else the first gate tripped in ``GATE_ORDER``."""
    lines: List[str] = []
    reasons: List[str] = []
    code = run_code
    if run_code == EXIT_TESTS_FAILED:
        if comparison is None:
            reasons.append("tests failed")
            if gates.fail_on == "new":
                lines.append("fail-on: new, but there is no baseline to tell new failures from old ones: "
                             "every failure fails the job")
        elif gates.fail_on == "new" and not comparison.new_failures and comparison.old_failures:
            code = EXIT_OK
            lines.append(f"PASSING DESPITE {len(comparison.old_failures)} FAILING TEST(S): every one also fails "
                         "on the base, and fail-on is new. Fix them on the base branch.")
        elif gates.fail_on == "new" and comparison.new_failures:
            reasons.append(f"{_many(len(comparison.new_failures), 'new failure')} (--fail-on new)")
        elif comparison.new_failures or comparison.old_failures:
            reasons.append(f"{_many(len(comparison.new_failures) + len(comparison.old_failures), 'failing test')} "
                           f"({len(comparison.new_failures)} new, {len(comparison.old_failures)} also failing on "
                           "the base)")
        else:
            reasons.append("tests failed")
    elif run_code != EXIT_OK:
        reasons.append(f"the run's own exit {run_code} ({RUN_CODES.get(run_code, 'see docs/run.md')})")
    gate_codes: List[int] = []
    if comparison is not None:
        for name, limit in gates.max_drop.items():
            delta = comparison.figure(name).delta
            if delta is not None and -delta > limit:
                reasons.append(f"{name} coverage dropped {-delta:.2f} points (limit {limit:g})")
                gate_codes.append(EXIT_COVERAGE)
        if gates.fail_on_query_regressions and comparison.query_regressions:
            reasons.append(_many(len(comparison.query_regressions), "query regression"))
            gate_codes.append(EXIT_QUERY_REGRESSIONS)
    if gates.fail_on_flaky and flaky:
        reasons.append(f"{_many(len(flaky), 'flaky test')} (--fail-on-flaky)")
        gate_codes.append(EXIT_TESTS_FAILED)
    if code == EXIT_OK and gate_codes:
        code = min(gate_codes, key=GATE_ORDER.index)
    if code != EXIT_OK and gates.any_set:  # without a gate the run's own report says why it failed
        lines.append(FAILED + "; ".join(reasons))
    return code, lines


def _many(count: int, thing: str) -> str:
    return f"{count} {thing}" + ("" if count == 1 else "s")
