"""The comparison as a markdown section: summary.md, the job summary and the sticky comment share it.

Test ids and file paths are untrusted (the tests choose them): every one goes through ``cell``, the
caller's escaping (the GitHub report's ``_cell``; summary.md's own for local files). Long lists are
cut to ``rows`` entries and say how many they left out, so a suite that renamed 2,000 tests cannot
push the rest of the report past GitHub's size limits.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from . import FLAKY_HISTORY_RUNS, KNOWN_FLAKY_RUNS
from .compare import FIGURE_NAMES, Comparison, Regression, base_name, coverage_line, known_flaky_label, signed

TITLE = "Compared with the base"
SECTION_START = "<!-- async-test:comparison -->"
SECTION_END = "<!-- /async-test:comparison -->"


def plain_cell(text: str) -> str:
    """summary.md's escaping: one line, no table cell broken by ``|``, no markup closed by ``<``."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def section(comparison: Comparison, cell: Callable[[str], str] = plain_cell, rows: int = 20,
            heading: str = "###") -> List[str]:
    """The section's lines (no trailing blank line)."""
    c = comparison
    out = [f"{heading} {TITLE} ({cell(base_name(c))})", ""]
    out += [line for note in c.notes for line in (f"> ⚠️ **{cell(note)}**", "")]
    out.append(f"**Coverage:** {cell(coverage_line(c))}")
    if c.new_failures or c.old_failures:
        out += ["", f"**Failures:** {len(c.new_failures)} new in this change, "
                    f"{len(c.old_failures)} also failing on the base"]
        out += _names("🆕 new", c.new_failures, cell, rows, lambda n: known_flaky_label(c, n))
        out += _names("♻️ also failing on the base", c.old_failures, cell, rows, lambda n: known_flaky_label(c, n))
    if c.query_regressions:
        out += ["", f"**Query regressions ({len(c.query_regressions)})**: SQL statements per test grew "
                    f"beyond x{c.thresholds.query_ratio:g} and +{c.thresholds.query_added:g}",
                "", "| test | statements before → after |", "|---|---:|"]
        out += _regression_rows(c.query_regressions, cell, rows, lambda r: f"{r.before:g} → {r.after:g}")
    if c.time_regressions:
        noise = "" if c.noise <= 1.0 else f" (this run was {c.noise:g} times slower overall; allowed for)"
        out += ["", f"**Time regressions ({len(c.time_regressions)})**: slower than the base beyond noise{noise}",
                "", "| test | seconds before → after |", "|---|---:|"]
        out += _regression_rows(c.time_regressions, cell, rows, lambda r: f"{r.before:.2f} → {r.after:.2f}")
    out += flaky_lines(c.flaky, cell, rows)
    out += known_flaky_lines(c.known_flaky, cell, rows)
    left_out = f" ({c.left_out} left out by the affected selection)" if c.left_out else ""
    out += ["", f"**Tests:** {len(c.added)} added, {len(c.removed)} removed{left_out}"]
    out += _names("added", c.added, cell, rows)
    out += _names("removed", c.removed, cell, rows)
    if c.files:
        out += ["", f"<details><summary>Coverage per file: {len(c.files)} moved</summary>", "",
                "| file | " + " | ".join(FIGURE_NAMES) + " |", "|---|" + "---:|" * len(FIGURE_NAMES)]
        for f in c.files[:rows]:
            out.append(f"| {cell(f.path)} | "
                       + " | ".join(_file_figure(f.before[n], f.after[n]) for n in FIGURE_NAMES) + " |")
        if len(c.files) > rows:
            out.append(f"\n… and {len(c.files) - rows} more files")
        out += ["", "</details>"]
    return out


def flaky_lines(flaky: Sequence[str], cell: Callable[[str], str] = plain_cell, rows: int = 20) -> List[str]:
    """The flaky tests (failed, then passed on their re-run): with or without a comparison."""
    if not flaky:
        return []
    return ["", f"**Flaky ({len(flaky)})**: failed, then passed on a re-run (reported passed)",
            *_names("flaky", flaky, cell, rows)]


def known_flaky_lines(known: Sequence[str], cell: Callable[[str], str] = plain_cell, rows: int = 20) -> List[str]:
    """The known-flaky tests: flaky in several of the base's recent runs (store.known_flaky)."""
    if not known:
        return []
    return ["", f"**Known flaky ({len(known)})**: flaky in {KNOWN_FLAKY_RUNS} or more of the base's last "
                f"{FLAKY_HISTORY_RUNS} runs", *_names("known flaky", known, cell, rows)]


def _names(label: str, names: Sequence[str], cell: Callable[[str], str], rows: int,
           suffix: Callable[[str], str] = lambda n: "") -> List[str]:
    if not names:
        return []
    out = [""] + [f"- {label}: <code>{cell(n)}</code>{suffix(n)}" for n in names[:rows]]
    if len(names) > rows:
        out.append(f"- … and {len(names) - rows} more")
    return out


def _regression_rows(regressions: Sequence[Regression], cell: Callable[[str], str], rows: int,
                     shown: Callable[[Regression], str]) -> List[str]:
    out = [f"| <code>{cell(r.nodeid)}</code> | {shown(r)} |" for r in regressions[:rows]]
    if len(regressions) > rows:
        out.append(f"| … and {len(regressions) - rows} more | |")
    return out


def _file_figure(before: Optional[float], after: Optional[float]) -> str:
    if after is None:
        return "removed" if before is not None else "-"
    if before is None:
        return f"{after:.1f} % (new)"
    return f"{after:.1f} % ({signed(after - before)})"


def with_section(markdown: str, lines: List[str]) -> str:
    """``markdown`` (summary.md) with the comparison section replaced, or added at its end."""
    start = markdown.find(SECTION_START)
    end = markdown.find(SECTION_END, start)
    if start >= 0 and end >= 0:
        markdown = markdown[:start].rstrip("\n") + "\n" + markdown[end + len(SECTION_END):].lstrip("\n")
    return markdown.rstrip("\n") + "\n\n" + "\n".join([SECTION_START, *lines, SECTION_END]) + "\n"


def no_comparison(reason: str) -> str:
    """The one line every report shows when there is nothing to compare with."""
    return f"no comparison: {reason}"
