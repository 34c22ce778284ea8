"""Coverage per file for the job summary and the comment: changed files first, then the worst.

One row a file (test files left out, as from the HTML report's total: ``summary.format.is_test_path``):
unit / integration / combined coverage, each as a figure and a bar of 10 cells
(``▰▰▰▰▰▰▰▰▱▱ 81.2%``, a cell per full 10 %), the lines only mocked unit tests reach and, for a
file the pull request changed, its changed lines no test runs. Line lists are compressed into
ranges (``12-15, 40``; a gap with no statement in it does not split a range), and a range holding
a changed line is bold.

Paths are the summary's (repository-relative), so untrusted: the caller's ``cell`` escapes them,
and a link to the file at the head commit is built only from a validated server URL, repository
and commit, with the path percent-encoded. A path longer than ``PATH_SHOWN`` shows its end. The
table is cut at ``max_rows`` rows or ``budget`` bytes (UTF-8), whichever comes first, with a line
saying how many files were left out.

Standard library only, like the rest of ``github``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import AbstractSet, Any, Callable, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

from ..summary.format import is_test_path
from ..summary.model import FileCoverage, Summary
from .diffcov import DiffCoverage, FileDiff, ranges

BAR_CELLS = 10
FULL, EMPTY = "▰", "▱"
RANGES_SHOWN = 12  # ranges in one cell before "… +N more"
PATH_SHOWN = 160  # characters of a path shown; a longer one shows its end
URL_LIMIT = 2000  # a longer link is left out (browsers and GitHub cut them)
HEADER = ("| file | unit | integration | combined | lines only mocks reach | changed lines not run |",
          "|---|---|---|---|---|---|")

_SERVER = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*/?")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass(frozen=True)
class Links:
    """Where a repository-relative path is shown: ``SERVER/OWNER/REPO/blob/SHA/PATH``."""

    server: str
    repository: str
    sha: str

    def url(self, path: str) -> Optional[str]:
        parts = path.split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return None  # not a plain repository-relative path: shown, not linked
        return f"{self.server.rstrip('/')}/{self.repository}/blob/{self.sha}/{quote(path, safe='/')}"


def links_from(env: Mapping[str, str], event: Mapping[str, Any]) -> Optional[Links]:
    """Links to the head commit's files when the runner says where they are; None otherwise.

    The commit is the pull request's head (``GITHUB_SHA`` is its merge commit there), else
    ``GITHUB_SHA``. Each part must look like what GitHub sets, or nothing is linked.
    """
    pull_request = event.get("pull_request")
    head_of = pull_request.get("head") if isinstance(pull_request, dict) else None
    head = (head_of.get("sha") if isinstance(head_of, dict) else None) or env.get("GITHUB_SHA", "")
    server, repository = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
    if not (isinstance(head, str) and _SHA.fullmatch(head) and _SERVER.fullmatch(server)
            and _REPOSITORY.fullmatch(repository) and ".." not in repository):
        return None
    return Links(server, repository, head)


def bar(percent: float) -> str:
    """``▰▰▰▰▰▰▰▰▱▱ 81.2%``: a cell per full 10 % and the figure rounded down, so only 100 % fills the bar
    or reads 100.0%."""
    percent = min(100.0, max(0.0, percent))
    full = int(percent // (100 / BAR_CELLS))
    return FULL * full + EMPTY * (BAR_CELLS - full) + f" {math.floor(percent * 10) / 10:.1f}%"


def compress(lines: Sequence[int], statements: Set[int], bold: AbstractSet[int] = frozenset(),
             shown: int = RANGES_SHOWN) -> str:
    """``12-15, **40**``: ranges of ``lines``, bold where one holds a line of ``bold``; the first ``shown``."""
    merged = ranges(list(lines), statements)
    parts = []
    for start, end in merged[:shown]:
        text = str(start) if start == end else f"{start}-{end}"
        parts.append(f"**{text}**" if any(start <= n <= end for n in bold) else text)
    if len(merged) > shown:
        parts.append(f"… +{len(merged) - shown} more")
    return ", ".join(parts)


def _figures(entry: FileCoverage) -> Tuple[float, float, float]:
    total = entry.statements or 1
    unit = 100.0 * (len(entry.unit_only) + len(entry.both)) / total
    integration = 100.0 * (len(entry.integration_only) + len(entry.both)) / total
    combined = 100.0 * (entry.statements - len(entry.neither)) / total
    return unit, integration, combined


def is_test(path: str, path_in_repo: str) -> bool:
    """A test file of the project (``summary.format.is_test_path``), from its repository-relative path."""
    prefix = path_in_repo.strip("/")
    if prefix in ("", "."):
        return is_test_path(path)
    if path.startswith(prefix + "/"):
        return is_test_path(path[len(prefix) + 1:])
    return is_test_path(path.rsplit("/", 1)[-1])


def ordered(files: Sequence[FileCoverage], changed: Set[str], path_in_repo: str = "") -> List[FileCoverage]:
    """Files with statements that are not tests: the changed ones first, each group worst first (lowest
    combined, most lines no test runs), then by path."""
    measured = [f for f in files if f.statements and not is_test(f.path, path_in_repo)]
    return sorted(measured, key=lambda f: (f.path not in changed, _figures(f)[2], -len(f.neither), f.path))


def _size(line: str) -> int:
    return len(line.encode("utf-8")) + 1


def files_section(summary: Summary, diff: Optional[DiffCoverage], cell: Callable[[str], str],
                  links: Optional[Links], max_rows: int, budget: int) -> List[str]:
    """The ``Coverage by file`` section's lines (none when no file was measured), within ``budget`` bytes."""
    changed = diff.changed_files if diff is not None else set()
    files = ordered(summary.coverage.files, changed, summary.project.path_in_repo)
    if not files or max_rows <= 0:
        return []
    tests = sum(1 for f in summary.coverage.files if is_test(f.path, summary.project.path_in_repo))  # as the HTML
    diffs = {f.path: f for f in (diff.files if diff is not None else [])}
    intro = ("Changed files first, then the lowest combined coverage. Bold: lines this pull request changed."
             if changed else "Lowest combined coverage first.")
    if tests:
        intro += f" Test files ({tests}) are not listed."
    if any(f.carried_forward for f in files):  # select: affected (carryforward.py)
        intro += (" *carried forward*: the figure holds lines that tests this run left out ran on the base "
                  "(affected selection).")
    out = ["", "### Coverage by file", "", f"{intro} A bar's cell is 10 %.", "", *HEADER]
    used = sum(_size(line) for line in out)
    reserve = 200  # the "N more files" line
    shown = 0
    for entry in files[:max_rows]:
        row = _row(entry, entry.path in changed, diffs.get(entry.path), cell, links)
        if used + _size(row) + reserve > budget:
            break
        out.append(row)
        used += _size(row)
        shown += 1
    if shown == 0:
        return ["", "### Coverage by file", "", f"{len(files)} files, none of whose rows fits here: the results "
                "folder's coverage.json and HTML report have them all."]
    if shown < len(files):
        left = files[shown:]
        changed_left = sum(1 for f in left if f.path in changed)
        note = f", {changed_left} of them changed" if changed_left else ""
        out += ["", f"… and {len(left)} more files{note}: the results folder's coverage.json and HTML report "
                    "have them all."]
    return out


def _row(entry: FileCoverage, changed: bool, diff: Optional[FileDiff], cell: Callable[[str], str],
         links: Optional[Links]) -> str:
    unit, integration, combined = _figures(entry)
    statements = set(entry.unit_only) | set(entry.integration_only) | set(entry.both) | set(entry.neither)
    path = entry.path
    if len(path) > PATH_SHOWN:  # the end of a path says most
        path = "…" + path[-(PATH_SHOWN - 1):]
    name = f"<code>{cell(path)}</code>"
    url = links.url(entry.path) if links else None
    if url and len(url) <= URL_LIMIT:
        name = f"[{name}]({url})"
    if entry.carried_forward:
        name += " *carried forward*"
    changed_mocked = {n for a, b in (diff.unit_only if diff else []) for n in range(a, b + 1)}
    mocks = compress(entry.unit_only, statements, changed_mocked) or "-"
    not_run = ""
    if changed:
        uncovered = {n for a, b in (diff.uncovered if diff else []) for n in range(a, b + 1)}
        not_run = compress(sorted(uncovered & statements), statements) or "none"
    return f"| {name} | {bar(unit)} | {bar(integration)} | {bar(combined)} | {mocks} | {not_run} |"
