"""Annotations within GitHub's budget: 10 errors, 10 warnings, 10 notices per step.

A composite action is one step, so the budget is spent in a fixed order: an infrastructure root
cause first (instead of dozens of failures it caused), then failures in files the pull request
changed, then the rest; failures sharing one message become one annotation; then uncovered changed
lines, then changed lines only mocked unit tests reach; what does not fit is counted in a notice
that points at the job summary.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, Optional, Set

from ..baseline.compare import Comparison
from ..messages import one_line
from ..summary.model import Failure, Summary
from .commands import command
from .diffcov import DiffCoverage

BUDGET = 10
GROUP_AT = 3  # this many failures with one message become one annotation


def _first_line(text: str) -> str:
    return one_line(text or "")


def _failure_groups(failures: List[Failure], changed: Set[str]) -> List[List[Failure]]:
    by_message: OrderedDict[str, List[Failure]] = OrderedDict()
    for failure in failures:
        by_message.setdefault(_first_line(failure.message) or failure.nodeid, []).append(failure)
    groups: List[List[Failure]] = []
    for members in by_message.values():
        if len(members) >= GROUP_AT:
            groups.append(members)
        else:
            groups.extend([m] for m in members)
    # Failures in files the pull request touched first; the order is otherwise the run's.
    return sorted(groups, key=lambda g: 0 if any(m.repo_path in changed for m in g) else 1)


def _error_for(group: List[Failure], comparison: Optional[Comparison] = None) -> str:
    first = group[0]
    if len(group) == 1:
        when = f", {first.when}" if first.when != "call" else ""
        title = f"{first.nodeid} ({first.kind}{when}{_label(first, comparison)})"
        message = first.message or "failed"
    else:
        new = sum(1 for m in group if comparison is not None and m.nodeid in comparison.new_failures)
        title = f"{len(group)} tests failed with the same error" + (
            f" ({new} new in this change)" if comparison is not None else "")
        names = ", ".join(m.nodeid for m in group[:5]) + (" …" if len(group) > 5 else "")
        message = f"{_first_line(first.message)}\n{names}"
    return command("error", message, {"file": first.repo_path or None, "line": first.line, "title": title})


def _label(failure: Failure, comparison: Optional[Comparison]) -> str:
    """Whether the base failed too (issue 25): what a reviewer needs to know first about a failure."""
    if comparison is None:
        return ""
    label = "; also failing on the base" if failure.nodeid in comparison.old_failures else "; new in this change"
    return label + ("; known flaky" if failure.nodeid in comparison.known_flaky else "")


def _query_warnings(summary: Summary, comparison: Optional[Comparison]) -> List[str]:
    """A warning at each test whose SQL statements grew beyond the threshold (the N+1 a review misses)."""
    if comparison is None:
        return []
    folder = summary.project.path_in_repo.strip("/")
    found = []
    for r in comparison.query_regressions:
        file = r.nodeid.split("::", 1)[0]
        found.append(command("warning", f"{r.nodeid} executed {r.after:g} SQL statements; {r.before:g} on the base "
                                        "(an N+1 query?)",
                             {"file": f"{folder}/{file}" if folder else file,
                              "title": "async-test: query regression"}))
    return found


def build_annotations(summary: Summary, changed: Optional[Set[str]] = None,
                      diff: Optional[DiffCoverage] = None, notes: Optional[List[str]] = None,
                      comparison: Optional[Comparison] = None) -> List[str]:
    changed = changed or set()
    errors: List[str] = []
    warnings: List[str] = []
    notices: List[str] = list(notes or [])
    infra = summary.infrastructure_error
    failures = summary.failures
    if infra:
        title = f"async-test: infrastructure failure ({infra.phase})"
        errors.append(command("error", infra.message, {"title": title}))
        # Integration failures after a database failure share its cause: count them, do not list them.
        caused = [f for f in failures if f.kind == "integration"]
        failures = [f for f in failures if f.kind != "integration"]
        if caused:
            notices.append(f"{len(caused)} integration failure(s) follow from the infrastructure failure; "
                           "details in the job summary")
    groups = _failure_groups(failures, changed)
    room = BUDGET - len(errors)
    errors += [_error_for(g, comparison) for g in groups[:room]]
    hidden = sum(len(g) for g in groups[room:])
    if hidden:
        notices.append(f"{hidden} more failure(s) in the job summary")
    queries = _query_warnings(summary, comparison)  # before the coverage warnings: the budget is shared
    warnings += queries[:BUDGET]
    if len(queries) > BUDGET:
        notices.append(f"{len(queries) - BUDGET} more query regression(s) in the job summary")
    if diff is not None:
        pending = [(f.path, r, "not run by any test") for f in diff.files for r in f.uncovered]
        pending += [(f.path, r, "only run by unit tests (mocks), not by an integration test") for f in diff.files
                    for r in f.unit_only]
        room = max(0, BUDGET - len(warnings))
        for path, (start, end), what in pending[:room]:
            span = f"line {start}" if start == end else f"lines {start}-{end}"
            warnings.append(command("warning", f"Changed {span} {what}.",
                                    {"file": path, "line": start, "endLine": end, "title": "async-test: coverage"}))
        if len(pending) > room:
            notices.append(f"{len(pending) - room} more changed range(s) with coverage notes in the job summary")
    if len(notices) > BUDGET:
        notices = [*notices[:BUDGET - 1], f"{len(notices) - BUDGET + 1} more notes in the job summary"]
    return errors + warnings + [command("notice", n, {"title": "async-test"}) for n in notices]
