"""Which changed lines of a pull request no test runs, or only mocked unit tests run."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..summary.model import FileCoverage

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class DiffUnavailable(Exception):
    """The base commit is not in the clone (shallow checkout) or git failed; the message says how to fix it."""


# The report runs git on the runner with the token in its environment, in a checkout the tests had
# in their container: nothing configured there may run a program (external diff, textconv, a diff
# driver, fsmonitor) or fetch (a partial clone's lazy fetch through a remote the tests chose).
SAFE_GIT = ["-c", "core.fsmonitor=false", "-c", "diff.external=", "-c", "protocol.allow=never"]
SAFE_ENV = {"GIT_NO_LAZY_FETCH": "1", "GIT_EXTERNAL_DIFF": "", "GIT_TERMINAL_PROMPT": "0"}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *SAFE_GIT, *args], capture_output=True, text=True,
                          errors="replace", env={**os.environ, **SAFE_ENV})


def changed_lines(repo: Path, base: str, head: str = "HEAD") -> Dict[str, Set[int]]:
    """Lines added or modified on the new side, per repo-relative file."""
    check = _git(repo, "cat-file", "-e", f"{base}^{{commit}}")
    if check.returncode != 0:
        raise DiffUnavailable(
            f"the base commit {base[:12]} is not in this clone (a shallow checkout?), so diff coverage is skipped. "
            "Check out with full history: actions/checkout with fetch-depth: 0."
        )
    diff = _git(repo, "diff", "--no-ext-diff", "--no-textconv", "--unified=0", "--no-color", "--no-renames",
                f"{base}...{head}")
    if diff.returncode != 0:
        raise DiffUnavailable(f"git diff failed: {diff.stderr.strip()[:300]}")
    result: Dict[str, Set[int]] = {}
    current: Optional[str] = None
    for line in diff.stdout.splitlines():
        if line.startswith("+++ "):
            path = line[4:]
            current = path[2:] if path.startswith("b/") else None
        elif current and (match := HUNK.match(line)):
            start, count = int(match.group(1)), int(match.group(2) or 1)
            result.setdefault(current, set()).update(range(start, start + count))
    return result


def ranges(lines: List[int], statements: Set[int]) -> List[Tuple[int, int]]:
    """Merge lines into ranges; a gap with no executable line in it does not split a range."""
    merged: List[Tuple[int, int]] = []
    for line in sorted(lines):
        if merged and not any(s in statements for s in range(merged[-1][1] + 1, line)):
            merged[-1] = (merged[-1][0], line)
        else:
            merged.append((line, line))
    return merged


@dataclass
class FileDiff:
    path: str
    changed_statements: int
    uncovered: List[Tuple[int, int]] = field(default_factory=list)
    unit_only: List[Tuple[int, int]] = field(default_factory=list)
    covered: int = 0


@dataclass
class DiffCoverage:
    files: List[FileDiff]
    changed_files: Set[str]

    @property
    def statements(self) -> int:
        return sum(f.changed_statements for f in self.files)

    @property
    def percent(self) -> Optional[float]:
        total = self.statements
        return round(100.0 * sum(f.covered for f in self.files) / total, 2) if total else None


def diff_coverage(coverage_files: Iterable[FileCoverage], changed: Dict[str, Set[int]]) -> DiffCoverage:
    files = []
    for entry in coverage_files:
        lines = changed.get(entry.path)
        if not lines:
            continue
        unit_only, integration_only = set(entry.unit_only), set(entry.integration_only)
        both, neither = set(entry.both), set(entry.neither)
        statements = unit_only | integration_only | both | neither
        touched = lines & statements
        if not touched:
            continue
        files.append(FileDiff(
            path=entry.path, changed_statements=len(touched),
            uncovered=ranges(sorted(touched & neither), statements),
            unit_only=ranges(sorted(touched & unit_only), statements),
            covered=len(touched - neither),
        ))
    return DiffCoverage(files, set(changed))
