"""The job summary and the PR comment, kept under GitHub's size limits.

Untrusted text (test ids, messages, output, and every string of summary.json, enums included:
the tests can rewrite it) never adds structure. In ``<pre>`` blocks it is HTML-escaped, so it
cannot close the block; on a line of raw HTML (``<details>``) it is also kept on that line; in
markdown (table cells, headings, quotes) its markdown punctuation is backslash-escaped as well, so
no link, image, emphasis, math or extra cell appears. ``@`` and ``#`` get an empty HTML comment
after them, so a test's text mentions nobody and links no issue from the comment.

When the text would exceed the limit (1 MiB for a job summary, 65,536 characters for a comment),
detail is dropped in a fixed order, and the document says what was dropped: captured output, then
tracebacks, then failures past the first 50, then every failure detail and the per-file tables.
The per-file coverage table (``files_table``) has at most a quarter of the limit and a row count
of its own, and says how many files it left out.
"""

from __future__ import annotations

import html
import re
from typing import Any, List, Optional, Tuple

from ..baseline.compare import NOT_COMPARED, Compared
from ..baseline.markdown import flaky_lines, no_comparison, section
from ..messages import one_line
from ..summary.format import HEAVIEST_HEADER, HEAVIEST_TITLE, heaviest, results_table
from ..summary.model import Summary
from .diffcov import DiffCoverage
from .files_table import Links, files_section

JOB_SUMMARY_LIMIT = 1024 * 1024
COMMENT_LIMIT = 65536
COMMENT_MARKER = "<!-- async-test-action:sticky-comment -->"
FILE_ROWS_COMMENT = 25  # rows of the per-file coverage table in the comment
FILE_ROWS_JOB_SUMMARY = 100
TRIM_STEPS = ("captured output", "tracebacks", "failures after the first 50", "all failure details and file tables")
# The comparison with the base (baseline/, issue 25): baseline.compare.Compared, read by read_comparison.
COMPARISON_ROWS = (20, 5)  # most entries per list of the comparison: untrimmed, and at the last trim level


# One pass of str.translate, so an escape is never escaped again.
_LINE = {ord("\r"): " ", ord("\n"): " "}
_HTML = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#x27;",
         ord("@"): "@<!-- -->", ord("#"): "#<!-- -->", **_LINE}
_MARKDOWN = {**_HTML, **{ord(c): "\\" + c for c in "\\`*_[]~$|"}}
_AUTOLINK = re.compile(r"(:(?=//)|(?i:www)(?=\.))")


def _html(text: Any) -> str:
    """Untrusted text on a line of raw HTML (markdown is not parsed there): escaped, kept on one line."""
    return str(text).translate(_HTML)


def _cell(text: Any) -> str:
    """Untrusted text in markdown (a table cell, a heading, a quote): escaped, one line, no markdown.

    GitHub also links bare ``https://...`` and ``www.`` text: an empty comment breaks both.
    """
    return _AUTOLINK.sub(r"\1<!-- -->", str(text).translate(_MARKDOWN))


def no_results(message: str) -> str:
    """The job summary when there is no summary to show."""
    return f"## ❌ async-test: no results\n\n{_cell(message)}\n"


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def render(summary: Summary, diff: Optional[DiffCoverage] = None, level: int = 0,
           heading: str = "async-test", links: Optional[Links] = None,
           files: Optional[Tuple[int, int]] = None, compared: Compared = NOT_COMPARED) -> str:
    """The document at trim ``level``; ``files``: the per-file table's most rows and bytes (``files_table``;
    default: the job summary's); ``compared``: the comparison with the base, or why there is none."""
    exit_info = summary.exit
    icon = "✅" if exit_info.code == 0 else "❌"
    out: List[str] = [f"## {icon} {heading}: {_cell(exit_info.reason)}", ""]
    out += results_table(summary, cell=_cell, emphasis="**")
    if summary.affected is not None:  # issue 26: what an --affected run skipped, or why it ran everything
        partial = "" if summary.affected.run_all else "; coverage covers only the tests that ran"
        if summary.affected.coverage_line:  # carried forward from the base's map, or why not
            partial = "; " + summary.affected.coverage_line
        out += ["", f"**Affected tests**: {_cell(summary.affected.line)}{_cell(partial)}"]
    if diff is not None and diff.files:
        out += ["", f"**Changed lines covered: {diff.percent:.1f}%** of {diff.statements} changed statements"]
    out += _comparison(compared, level)
    if level < 4:
        out += files_section(summary, diff, _cell, links, *(files or file_table_size(JOB_SUMMARY_LIMIT)))
    infra = summary.infrastructure_error
    if infra:
        out += ["", f"### Infrastructure failure ({_cell(infra.phase)})", _pre(infra.message)]
    failures = summary.failures
    if failures and level < 4:
        shown = failures if level < 3 else failures[:50]
        out += ["", f"### Failures ({len(failures)})", ""]
        for f in shown:
            where = f"{f.repo_path}:{f.line}" if f.repo_path else "?"
            message = one_line(f.message or "")
            out.append(f"<details><summary><code>{_html(f.nodeid)}</code> ({_html(f.kind)}, "
                       f"{_html(f.when)}) at <code>{_html(where)}</code>: {_html(message)}</summary>\n")
            if level < 2 and f.traceback:
                out.append(_pre(f.traceback))
            if level < 1 and f.output:
                out.append("Captured output:\n" + _pre(f.output))
            out.append("</details>")
        if len(shown) < len(failures):
            out.append(f"\n… and {len(failures) - len(shown)} more failures (see the results folder's summary.json)")
    slowest = [s for p in summary.passes for s in p.slowest]
    if slowest and level < 4:
        out += ["", "<details><summary>Slowest tests</summary>\n", "| test | seconds |", "|---|---:|"]
        for s in sorted(slowest, key=lambda s: s.duration_seconds, reverse=True)[:10]:
            out.append(f"| <code>{_cell(s.nodeid)}</code> | {s.duration_seconds:.3f} |")
        out.append("\n</details>")
    heavy = heaviest(summary)
    if heavy and level < 4:
        out += ["", f"<details><summary>{HEAVIEST_TITLE}</summary>\n", *HEAVIEST_HEADER]
        out += [f"| <code>{_cell(t.nodeid)}</code> | {t.statements} |" for t in heavy]
        out.append("\n</details>")
    for w in summary.warnings:
        out += ["", f"> ⚠️ {_cell(w)}"]
    if level:
        out += ["", f"_Trimmed to fit GitHub's size limit: dropped {', '.join(TRIM_STEPS[:level])}._"]
    return "\n".join(out) + "\n"


def _comparison(compared: Compared, level: int) -> List[str]:
    comparison, reason, flaky = compared
    rows = COMPARISON_ROWS[level >= 4]
    if comparison is not None:
        return ["", *section(comparison, _cell, rows)]
    return (["", f"_{_cell(no_comparison(reason))}_"] if reason else []) + flaky_lines(flaky, _cell, rows)


def file_table_size(limit: int) -> Tuple[int, int]:
    """The per-file table's most rows and bytes in a document of ``limit`` bytes: a quarter of it."""
    return (FILE_ROWS_COMMENT if limit <= COMMENT_LIMIT else FILE_ROWS_JOB_SUMMARY), limit // 4


def fit(summary: Summary, limit: int, diff: Optional[DiffCoverage] = None, prefix: str = "",
        links: Optional[Links] = None, compared: Compared = NOT_COMPARED) -> str:
    """The most detailed rendering whose size (bytes, UTF-8) is within ``limit``."""
    files = file_table_size(limit)
    for level in range(len(TRIM_STEPS) + 1):
        text = prefix + render(summary, diff, level, links=links, files=files, compared=compared)
        if len(text.encode("utf-8")) <= limit:
            return text
    text = prefix + render(summary, diff, len(TRIM_STEPS), links=links, files=files, compared=compared)
    return text.encode("utf-8")[: limit - 64].decode("utf-8", "ignore") + "\n\n_…truncated_\n"
