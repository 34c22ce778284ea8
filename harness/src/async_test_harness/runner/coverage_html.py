"""The coverage HTML report: coverage.py's, each line coloured by the kind of test that ran it.

The combined data file records every line under the static context of the pass that ran it
(``unit``, ``integration``), and coverage.py's HTML with ``show_contexts`` writes each line's
contexts into its page: a ``contexts`` map in the head (code -> name) and, per line, a
``<span class="ctxs">`` of codes (coverage.py 7.x; 6.x wrote one ``<span>`` per context name,
also read here). After coverage.py has written the pages, each line's ``<p>`` gets one class,
``at-unit`` (reached only by mocked unit tests: amber), ``at-integration`` (only by integration
tests: blue) or ``at-both`` (green); a stylesheet of our own (``async-test.css``) colours them, and a
legend sits in the header of every page, the index's included. No script: the colours are in the
markup, so they show with JavaScript off too. Lines no test ran keep coverage.py's red.

Test files (``conftest.py``, ``test_*.py``, ``*_test.py``, anything under a ``tests`` or ``test``
folder of the project) are left out of the report, and so out of the index's total, unless
``include_tests``: a test file runs whenever its tests do, and counting it only raised the headline.
The index says how many were left out.

Post-processing is idempotent (coverage.py leaves a page it need not rewrite as it was) and, where
coverage.py's markup is not what this module knows, leaves the page alone and says so
(``HtmlReport.recognised``). Checked on coverage.py 7.3.0 and 7.17.5.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..summary.format import is_test_path

KINDS = ("unit", "integration")
STYLESHEET = "async-test.css"
CLASSES = {frozenset({"unit"}): "at-unit", frozenset({"integration"}): "at-integration",
           frozenset(KINDS): "at-both"}
TITLES = {"at-unit": "reached only by mocked unit tests", "at-integration": "reached only by integration tests",
          "at-both": "reached by unit and integration tests"}
MARK = "<!-- async-test: marked -->"

# One line of a file's page: coverage.py writes each ``<p>`` joined on one line of HTML.
_LINE = re.compile(r'^(\s*)<p class="([^"]*)">(.*)</p>$', re.MULTILINE)
_CONTEXTS_MAP = re.compile(r"\bcontexts\s*=\s*(\{.*?\})\s*</script>", re.DOTALL)
_CTXS = re.compile(r'<span class="ctxs">(.*)</span>$')
_NAMED = re.compile(r"<span>(.*?)</span>")

LEGEND = (
    '<div class="content async-test-legend">'
    '<span class="at-key at-unit" title="{unit}">only unit tests (mocks)</span> '
    '<span class="at-key at-integration" title="{integration}">only integration tests</span> '
    '<span class="at-key at-both" title="{both}">unit and integration tests</span> '
    '<span class="at-key at-none">no test</span>{note}</div>'
).format(unit=TITLES["at-unit"], integration=TITLES["at-integration"], both=TITLES["at-both"], note="{note}")

CSS = """\
/* async-test: lines by the kind of test that ran them (runner/coverage_html.py). */
#source p.at-unit .t, #source p.run.show_run.at-unit .t { background: #ffd27a; border-left: 0.2em solid #c98a00; }
#source p.at-integration .t, #source p.run.show_run.at-integration .t {
  background: #9cc9ff; border-left: 0.2em solid #1f5fc4; }
#source p.at-both .t, #source p.run.show_run.at-both .t { background: #a6e3a6; border-left: 0.2em solid #1f8f1f; }
@media (prefers-color-scheme: dark) {
  #source p.at-unit .t, #source p.run.show_run.at-unit .t { background: #5c4300; }
  #source p.at-integration .t, #source p.run.show_run.at-integration .t { background: #17365f; }
  #source p.at-both .t, #source p.run.show_run.at-both .t { background: #1f4a1f; }
}
header .async-test-legend { padding-top: 0; padding-bottom: .75rem; font-size: .875em; }
header.sticky .async-test-legend { display: none; }
.async-test-legend .at-key { display: inline-block; padding: 0 .2em 0 1.4em; margin-right: 1em; position: relative; }
.async-test-legend .at-key::before { content: ""; position: absolute; left: 0; top: .15em; width: 1em; height: 1em;
  border-radius: .15em; }
.async-test-legend .at-unit::before { background: #ffd27a; }
.async-test-legend .at-integration::before { background: #9cc9ff; }
.async-test-legend .at-both::before { background: #a6e3a6; }
.async-test-legend .at-none::before { background: #fdd; border-left: 0.2em solid #ff0000; }
.async-test-legend .at-note { display: block; margin-top: .35em; color: #666; font-style: italic; }
"""


@dataclass
class HtmlReport:
    index: Path
    lines: Counter[str] = field(default_factory=Counter)  # lines marked, by class
    pages: int = 0  # pages of files
    unrecognised: List[str] = field(default_factory=list)  # pages whose contexts this module could not read
    test_files_left_out: int = 0

    @property
    def recognised(self) -> bool:
        return not self.unrecognised


def is_test_file(path: str, root: Path) -> bool:
    """A file of the project's tests (``summary.format.is_test_path``), ``path`` absolute; of a file
    outside ``root`` only the name counts (a folder above the project named ``tests`` does not)."""
    file = Path(path)
    try:
        relative = file.relative_to(root).as_posix()
    except ValueError:
        relative = file.name
    return is_test_path(relative)


def write_html_report(cov: Any, directory: Path, root: Path, include_tests: bool = False) -> HtmlReport:
    """coverage.py's HTML report of ``cov`` into ``directory``, marked; test files left out unless
    ``include_tests`` (or unless nothing else was measured). A report of ours already there is replaced
    whole (its test files' pages would stay otherwise); any other folder coverage.py writes into as usual."""
    measured = sorted(cov.get_data().measured_files())
    tests = [f for f in measured if is_test_file(f, root)]
    morfs: Optional[List[str]] = None
    if tests and not include_tests and len(tests) < len(measured):
        morfs = [f for f in measured if f not in set(tests)]
    if (directory / STYLESHEET).is_file():  # an earlier report of ours: none of its pages may stay behind
        shutil.rmtree(directory, ignore_errors=True)
    cov.html_report(morfs=morfs, directory=str(directory), show_contexts=True)
    return mark_report(directory, test_files_left_out=len(tests) if morfs is not None else 0)


def mark_report(directory: Path, test_files_left_out: int = 0) -> HtmlReport:
    """Colour every page of the HTML report in ``directory``; write the stylesheet; the legend on each page."""
    (directory / STYLESHEET).write_text(CSS, encoding="utf-8")
    result = HtmlReport(directory / "index.html", test_files_left_out=test_files_left_out)
    for page in sorted(directory.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        if 'class="pyfile"' in text:
            result.pages += 1
            marked, counts, known = mark_page(text)
            result.lines.update(counts)
            if not known:
                result.unrecognised.append(page.name)
        else:
            marked = mark_index(text, test_files_left_out)
        if marked != text:
            page.write_text(marked, encoding="utf-8")
    return result


def _head_and_legend(text: str, note: str) -> str:
    if MARK in text:
        return text
    link = f'<link rel="stylesheet" href="{STYLESHEET}" type="text/css">'
    text = text.replace("</head>", f"    {link}\n    {MARK}\n</head>", 1)
    return text.replace("</header>", LEGEND.format(note=note) + "\n</header>", 1)


def mark_index(text: str, test_files_left_out: int = 0) -> str:
    """An index page (files, functions, classes): the stylesheet, the legend, and what was left out."""
    note = ""
    if test_files_left_out:
        note = (f'<span class="at-note">{test_files_left_out} test file(s) left out of this report and its total '
                "(async-test html --include-tests, or --html-include-tests, puts them back).</span>")
    return _head_and_legend(text, note)


def _contexts_map(text: str) -> Optional[Dict[str, str]]:
    found = _CONTEXTS_MAP.search(text)
    if not found:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def _names(ctxs: str, codes: Optional[Dict[str, str]]) -> Optional[List[str]]:
    """A line's context names from its ``ctxs`` span; None when the markup is not one this module knows."""
    if "<span>" in ctxs:  # coverage.py 6: the names themselves
        return [html.unescape(n) for n in _NAMED.findall(ctxs)]
    if codes is None or not ctxs or not ctxs[0].isdigit() or int(ctxs[0]) == 0:
        return None
    width = int(ctxs[0])  # then codes of that width, each padded with spaces
    keys = [ctxs[i:i + width].strip() for i in range(1, len(ctxs), width)]
    if any(k not in codes for k in keys):
        return None
    return [codes[k] for k in keys]


def _kinds(names: Iterable[str]) -> frozenset[str]:
    return frozenset(k for k in KINDS for n in names if n == k or n.startswith(k + "|"))


def mark_page(text: str) -> Tuple[str, Counter[str], bool]:
    """A file's page with each run line classed by who ran it; the lines marked by class; whether every
    line that carries contexts was understood."""
    if MARK in text:
        return text, Counter(), True
    codes = _contexts_map(text)
    counts: Counter[str] = Counter()
    known = True

    def mark(line: re.Match[str]) -> str:
        nonlocal known
        indent, classes, body = line.groups()
        ctxs = _CTXS.search(body)
        if ctxs is None:
            return line.group(0)
        names = _names(ctxs.group(1), codes)
        if names is None:
            known = False
            return line.group(0)
        css = CLASSES.get(_kinds(names))
        if css is None:
            return line.group(0)
        counts[css] += 1
        return f'{indent}<p class="{classes} {css}" title="{TITLES[css]}">{body}</p>'

    marked = _LINE.sub(mark, text)
    return _head_and_legend(marked, ""), counts, known
