"""What summary.md, the console and the job summary show alike: a coverage figure, the results table,
the heaviest tests, which files are tests.

Standard library only, like the rest of ``summary``.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from .model import CoverageFigure, HeavyTest, Summary

TEST_FOLDERS = frozenset({"tests", "test"})

HEAVIEST_TITLE = "Heaviest tests by SQL statements"
HEAVIEST_HEADER = ("| test | statements |", "|---|---:|")
TABLE_HEADER = ("| pass | status | tests | passed | failed | errors | skipped | time | coverage |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|")


def pct(figure: Optional[CoverageFigure]) -> str:
    """A coverage figure as ``80.0%``; ``-`` when there is none."""
    return f"{figure.percent:.1f}%" if figure else "-"


def results_table(summary: Summary, cell: Callable[[str], str] = str, emphasis: str = "") -> List[str]:
    """The markdown table of the passes and the combined coverage.

    ``cell`` escapes the text of the summary's strings (the job summary's are untrusted);
    ``emphasis`` (``**``) marks the combined row's label and figure.
    """
    lines = list(TABLE_HEADER)
    for kind, p in summary.passes.items():
        c = p.counts
        lines.append(f"| {cell(kind)} | {cell(p.status)} | {c.total} | {c.passed} | {c.failed} | {c.errors} | "
                     f"{c.skipped} | {p.duration_seconds:.1f}s | {pct(summary.coverage.figure(kind))} |")
    combined = pct(summary.coverage.combined)
    lines.append(f"| {emphasis}combined{emphasis} | | | | | | | | {emphasis}{combined}{emphasis} |")
    return lines


def is_test_path(relative: str) -> bool:
    """A file of the project's tests, by its ``/``-separated path below the project's root:
    ``conftest.py``, ``test_*.py``, ``*_test.py``, or anything in a ``tests`` or ``test`` folder.

    The HTML report leaves these out of its total and the job summary's per-file table out of its
    rows: a test file runs whenever its tests do.
    """
    *folders, name = relative.split("/")
    return (name == "conftest.py" or (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py")
            or any(folder in TEST_FOLDERS for folder in folders))
def heaviest(summary: Summary, limit: int = 10) -> List[HeavyTest]:
    """The tests of both passes that executed the most SQL statements, most first (ties by name)."""
    tests = [t for p in summary.passes for t in (p.heaviest or ())]
    return sorted(tests, key=lambda t: (-t.statements, t.nodeid))[:limit]
