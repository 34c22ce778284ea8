"""The coverage HTML report's marking (issue 17 item 2), without a browser.

Golden files hold a page and an index coverage.py 7.17 wrote (``golden/html/*.in.html``) and what
``coverage_html`` makes of them (``*.out.html``), and the stylesheet: a change to any of them is
reviewed as a diff (UPDATE_GOLDEN=1 to accept). The rest: the older markup, markup not understood,
idempotence, which files are tests, and the installed coverage.py's own pages.
"""

import os
import re
from pathlib import Path

import pytest

from async_test_harness.runner.coverage_html import (
    CSS,
    STYLESHEET,
    is_test_file,
    mark_index,
    mark_page,
    mark_report,
    write_html_report,
)

GOLDEN = Path(__file__).parent / "golden" / "html"


def check_golden(name, actual):
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", newline="") as handle:
            handle.write(actual)
    with open(golden, newline="") as handle:
        assert actual == handle.read(), f"differs from {golden}; UPDATE_GOLDEN=1 to accept"


def test_golden_page_index_and_stylesheet():
    page, counts, known = mark_page((GOLDEN / "page.in.html").read_text())
    assert known and counts == {"at-both": 4, "at-unit": 2, "at-integration": 1}
    check_golden("page.out.html", page)
    check_golden("index.out.html", mark_index((GOLDEN / "index.in.html").read_text(), test_files_left_out=1))
    check_golden(STYLESHEET, CSS)


def test_lines_by_kind_and_the_missing_line_untouched():
    page, _, _ = mark_page((GOLDEN / "page.in.html").read_text())
    classes = {int(n): c for c, n in re.findall(r'<p class="([^"]*)"[^>]*><span class="n"><a id="t(\d+)"', page)}
    assert classes[5] == classes[6] == "run at-unit"  # mocked_only: unit tests only
    assert classes[10] == "run at-integration"  # db_only's body: integration tests only
    assert classes[1] == classes[2] == "run at-both"
    assert classes[14] == "mis show_mis" and classes[3] == "pln"
    assert page.count('href="async-test.css"') == 1 and page.count("async-test-legend") == 1


def test_marking_twice_changes_nothing():
    once, _, _ = mark_page((GOLDEN / "page.in.html").read_text())
    twice, counts, known = mark_page(once)
    assert twice == once and known and not counts
    index = mark_index((GOLDEN / "index.in.html").read_text())
    assert mark_index(index, 3) == index


def test_coverage_6_names_the_contexts_in_the_line():
    page = ('<html><head>\n</head><body class="pyfile"><header></header>\n'
            '    <p class="run"><span class="n"><a id="t1" href="#t1">1</a></span><span class="t">x&nbsp;</span>'
            '<span class="ctxs"><span>unit</span></span></p>\n'
            '    <p class="run"><span class="n"><a id="t2" href="#t2">2</a></span><span class="t">y&nbsp;</span>'
            '<span class="ctxs"><span>integration</span><span>unit</span></span></p>\n</body></html>')
    marked, counts, known = mark_page(page)
    assert known and counts == {"at-unit": 1, "at-both": 1}
    assert '<p class="run at-unit"' in marked and '<p class="run at-both"' in marked


def test_markup_not_understood_is_left_alone_and_said():
    page = (GOLDEN / "page.in.html").read_text().replace('"a": "unit"', '"q": "unit"')
    marked, counts, known = mark_page(page)
    assert not known and counts == {"at-integration": 1}  # only the line whose one code it can read
    assert "run at-unit" not in marked and "run at-both" not in marked  # nothing coloured from a code it cannot read


@pytest.mark.parametrize("path, expected", [
    ("/p/tests/test_a.py", True), ("/p/src/tests/unit/helpers.py", True), ("/p/test/x.py", True),
    ("/p/app/conftest.py", True), ("/p/app/test_x.py", True), ("/p/app/x_test.py", True),
    ("/p/app/latest.py", False), ("/p/app/testing.py", False), ("/p/app/contest.py", False),
    ("/tests/p/app/x.py", False),  # a folder above the project does not count
    ("/elsewhere/lib.py", False),
])
def test_which_files_are_tests(path, expected):
    assert is_test_file(path, Path("/p") if not path.startswith("/tests/") else Path("/tests/p")) is expected


def _data(root: Path):
    """A combined data file as coverage_reports.combine writes it: lines under ``unit``/``integration``."""
    import coverage

    (root / "app").mkdir()
    (root / "tests").mkdir()
    (root / "app" / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef mocked(x):\n    return x\n\n\n"
                                          "def db(x):\n    return x\n")
    (root / "tests" / "test_calc.py").write_text("def test_add():\n    assert True\n")
    data = coverage.CoverageData(basename=str(root / ".coverage"))
    calc, test = str(root / "app" / "calc.py"), str(root / "tests" / "test_calc.py")
    data.set_context("unit")
    data.add_lines({calc: [1, 2, 5, 6, 9], test: [1, 2]})
    data.set_context("integration")
    data.add_lines({calc: [1, 2, 9, 10], test: [1, 2]})
    data.write()
    cov = coverage.Coverage(data_file=str(root / ".coverage"))
    cov.load()
    return cov


def test_installed_coverage_pages_are_understood_and_tests_left_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cov = _data(tmp_path)
    report = write_html_report(cov, tmp_path / "html", tmp_path)
    assert report.recognised and report.pages == 1 and report.test_files_left_out == 1
    assert report.lines == {"at-both": 3, "at-unit": 2, "at-integration": 1}
    index = (tmp_path / "html" / "index.html").read_text()
    assert "test_calc" not in index and '<span class="pc_cov">100%</span>' in index
    assert "1 test file(s) left out of this report and its total" in index
    assert (tmp_path / "html" / STYLESHEET).read_text() == CSS
    for name in ("function_index.html", "class_index.html"):  # newer coverage.py writes these too
        if (tmp_path / "html" / name).exists():
            assert "async-test-legend" in (tmp_path / "html" / name).read_text()

    # on request the tests are in, and a second report into the same folder replaces the first
    report = write_html_report(cov, tmp_path / "html", tmp_path, include_tests=True)
    assert report.pages == 2 and report.test_files_left_out == 0
    index = (tmp_path / "html" / "index.html").read_text()
    assert "test_calc" in index and "left out" not in index


def test_a_report_of_ours_is_replaced_whole_and_another_folder_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cov = _data(tmp_path)
    write_html_report(cov, tmp_path / "html", tmp_path, include_tests=True)
    assert list((tmp_path / "html").glob("*test_calc_py.html"))
    report = write_html_report(cov, tmp_path / "html", tmp_path)
    assert report.pages == 1 and not list((tmp_path / "html").glob("*test_calc_py.html"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("not coverage's")
    write_html_report(cov, tmp_path / "mine", tmp_path)
    assert (tmp_path / "mine" / "keep.txt").is_file() and (tmp_path / "mine" / "index.html").is_file()


def test_only_test_files_measured_are_kept(tmp_path, monkeypatch):
    import coverage

    monkeypatch.chdir(tmp_path)
    (tmp_path / "test_only.py").write_text("x = 1\n")
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage"))
    data.set_context("unit")
    data.add_lines({str(tmp_path / "test_only.py"): [1]})
    data.write()
    cov = coverage.Coverage(data_file=str(tmp_path / ".coverage"))
    cov.load()
    report = write_html_report(cov, tmp_path / "html", tmp_path)
    assert report.pages == 1 and report.test_files_left_out == 0  # an empty report helps nobody


def test_mark_report_skips_pages_already_marked(tmp_path):
    (tmp_path / "index.html").write_text((GOLDEN / "index.in.html").read_text())
    (tmp_path / "p.html").write_text((GOLDEN / "page.out.html").read_text())
    before = (tmp_path / "p.html").stat().st_mtime_ns
    report = mark_report(tmp_path)
    assert report.recognised and report.pages == 1 and (tmp_path / "p.html").stat().st_mtime_ns == before
