"""The per-file coverage table of the job summary and the comment (issue 17 item 1).

Changed files first, then the worst; bars and figures per pass; the lines only mocks reach and the
changed lines no test runs; cut within the size limits with a "N more files" line; paths linked to
the head commit only from validated parts; every path escaped, hostile ones included.
"""

import io
import json
import os
import re
from pathlib import Path

import pytest

from async_test_harness.github.diffcov import diff_coverage
from async_test_harness.github.files_table import Links, bar, compress, is_test, links_from, ordered
from async_test_harness.github.markdown import COMMENT_LIMIT, COMMENT_MARKER, JOB_SUMMARY_LIMIT, fit
from async_test_harness.github.report import report
from async_test_harness.summary.model import Summary
from reports import failure, summary

GOLDEN = Path(__file__).parent / "golden"
SHA = "0123456789abcdef0123456789abcdef01234567"
LINKS = Links("https://github.com", "org/service", SHA)
HOSTILE_PATHS = [
    "svc/app/pi|pe.py",
    "svc/app/<script>alert(1)</script>.py",
    "svc/app/`tick`s.py",
    "svc/app/x](javascript:alert(1)).py",
    "svc/app/[link](evil.example)@team #1.py",
    "svc/app/https://www.evil.example/x.py",
    "svc/app/**bold** _em_ ~~del~~ $x$.py",
]


def entry(path, unit_only=(), integration_only=(), both=(), neither=()):
    statements = len(unit_only) + len(integration_only) + len(both) + len(neither)
    covered = statements - len(neither)
    return {"path": path, "statements": statements,
            "percent": round(100.0 * covered / statements, 2) if statements else 100.0,
            "unit_only": list(unit_only), "integration_only": list(integration_only), "both": list(both),
            "neither": list(neither)}


FILES = [
    entry("svc/app/users.py", unit_only=[3, 4, 5, 9], integration_only=[6], both=[1, 2], neither=[7, 8, 10]),
    entry("svc/app/ok.py", both=[1, 2, 3, 4]),
    entry("svc/app/db.py", integration_only=[1, 2, 3], neither=[5, 6, 7, 8, 9]),
    entry("svc/app/__init__.py"),  # no statements: not listed
    entry("svc/app/mocked.py", unit_only=[1, 2, 3, 10, 11, 20], both=[4]),
    entry("svc/tests/unit/test_users.py", unit_only=[1, 2]),  # test files: not listed, counted
    entry("svc/app/conftest.py", both=[1]),
]
CHANGED = {"svc/app/users.py": {4, 5, 7, 8, 10}, "svc/app/ok.py": {2}, "README.md": {1}}


def render(files=FILES, changed=CHANGED, limit=COMMENT_LIMIT, links=LINKS, failures=()):
    s = Summary.from_json(summary(list(failures), files=files))
    diff = diff_coverage(s.coverage.files, changed) if changed is not None else None
    return fit(s, limit, diff, prefix=COMMENT_MARKER + "\n", links=links)


def table_rows(text):
    start = text.index("| file | unit |")
    return text[start:].split("\n\n")[0].splitlines()[2:]


def test_golden_comment_with_files():
    body = render()
    golden = GOLDEN / "files.comment.md"
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", newline="") as handle:
            handle.write(body)
    with open(golden, newline="") as handle:
        assert body == handle.read(), f"differs from {golden}; UPDATE_GOLDEN=1 to accept"


def test_changed_files_first_then_the_worst():
    rows = table_rows(render())
    names = [re.search(r"<code>(.*?)</code>", r).group(1).replace("\\_", "_") for r in rows]
    # users.py and ok.py changed (worst first), then db.py (44 %), mocked.py (100 %); __init__ has no statement
    assert names == ["svc/app/users.py", "svc/app/ok.py", "svc/app/db.py", "svc/app/mocked.py"]
    users = rows[0].split(" | ")
    assert users[1:4] == ["▰▰▰▰▰▰▱▱▱▱ 60.0%", "▰▰▰▱▱▱▱▱▱▱ 30.0%", "▰▰▰▰▰▰▰▱▱▱ 70.0%"]
    assert users[4] == "**3-5**, 9"  # only mocks reach 3-5 and 9; 4-5 changed
    assert users[5] == "7-8, 10 |"  # changed, no test runs them
    assert rows[1].endswith("| - | none |")  # changed, every changed line run
    # not changed: nothing in the last column; 4 is run by both, 12-19 are no statements
    assert rows[3].endswith("| 1-3, 10-20 |  |")


def test_without_a_pull_request_worst_first_and_no_links():
    text = render(changed=None, links=None)
    assert "Lowest combined coverage first." in text and "https://" not in text
    assert "svc/app/db.py" in table_rows(text)[0]


def test_a_file_with_carried_forward_lines_is_marked_so():
    carried = [dict(f, carried_forward=True) if f["path"] == "svc/app/db.py" else f for f in FILES]
    text = render(files=carried, changed=None, links=None)
    row = next(r for r in table_rows(text) if "svc/app/db.py" in r)
    assert "</code> *carried forward* |" in row
    assert "*carried forward*: the figure holds lines that tests this run left out ran on the base" in text
    assert not any("carried forward" in r for r in table_rows(text) if "svc/app/db.py" not in r)
    assert "carried forward" not in render(changed=None, links=None)


def test_bars():
    assert bar(0) == "▱▱▱▱▱▱▱▱▱▱ 0.0%"
    assert bar(9.99) == "▱▱▱▱▱▱▱▱▱▱ 9.9%" and bar(10) == "▰▱▱▱▱▱▱▱▱▱ 10.0%"
    assert bar(99.99) == "▰▰▰▰▰▰▰▰▰▱ 99.9%"  # only a full 100 % fills the bar or reads 100.0%
    assert bar(100 * 2 / 3) == "▰▰▰▰▰▰▱▱▱▱ 66.6%"
    assert bar(100) == "▰▰▰▰▰▰▰▰▰▰ 100.0%"


def test_compress_merges_over_lines_without_statements_and_caps():
    statements = {1, 2, 3, 5, 6, 9, 12}
    assert compress([1, 2, 3, 5], statements) == "1-5"  # 4 is no statement
    assert compress([1, 3], statements) == "1, 3"
    assert compress([1, 2, 9], statements, bold={9}) == "1-2, **9**"
    assert compress(list(range(1, 100, 2)), set(range(1, 100)), shown=3) == "1, 3, 5, … +47 more"


def test_many_files_are_cut_with_a_line_that_says_how_many():
    files = [entry(f"svc/app/m{i:03}.py", unit_only=[1], neither=[2]) for i in range(300)]
    comment = render(files=files, changed={f"svc/app/m{i:03}.py": {2} for i in range(40)})
    assert len(comment) <= COMMENT_LIMIT and len(table_rows(comment)) == 25
    assert "… and 275 more files, 15 of them changed" in comment
    step = render(files=files, changed=None, limit=JOB_SUMMARY_LIMIT)
    assert len(table_rows(step)) == 100 and "… and 200 more files" in step


def test_long_paths_and_line_lists_stay_within_the_budget():
    long_lines = list(range(1, 2000, 2))
    files = [entry(f"svc/{'<deep|>/' * 200}f{i}.py", unit_only=long_lines, neither=[n + 1 for n in long_lines])
             for i in range(30)]
    comment = render(files=files, changed={f["path"]: set(range(1, 2000)) for f in files})
    assert len(comment.encode()) <= COMMENT_LIMIT
    assert "more files" in comment and "… +" in comment
    assert len(comment[comment.index("### Coverage by file"):].encode()) <= COMMENT_LIMIT // 4
    # with 60 failures of big output, the file table still has its quarter and the output goes first
    big = [failure(f"svc/t.py::test_{i}", output="o" * 3000) for i in range(60)]
    crowded = render(files=files, failures=big)
    assert len(crowded.encode()) <= COMMENT_LIMIT and table_rows(crowded)


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_add_no_markup(path):
    text = render(files=[entry(path, unit_only=[1], neither=[2])], changed={path: {2}})
    row = table_rows(text)[0]
    cells = re.split(r"(?<!\\)\|", row)
    assert len(cells) == 8, row  # 6 cells and the two ends: no pipe of the path splits a cell
    if "//" in path:  # not a plain relative path: shown, not linked
        assert re.fullmatch(r" <code>[^<>]*(<!-- -->[^<>]*)*</code> ", cells[1]), cells[1]
        assert "https://" not in text.replace("https://github.com/", "") and "www." not in text
        return
    name, link = re.fullmatch(r" \[<code>(.*)</code>\]\((\S*)\) ", cells[1]).groups()
    assert "@" not in path or "@<!-- -->" in name  # mentions nobody
    name = name.replace("<!-- -->", "")
    assert "<" not in name and ">" not in name and "`" not in name.replace("\\`", "")
    for char in "[]*_~$":  # markdown punctuation only escaped
        assert re.search(rf"(?<!\\){re.escape(char)}", name) is None, (char, name)
    assert link.startswith(f"https://github.com/org/service/blob/{SHA}/svc/app/")
    assert re.fullmatch(r"[A-Za-z0-9/%._~:-]+", link), link  # no ( ) < > | ` or spaces
    assert "<script>" not in text and not re.search(r"(?<!\\)\]\(javascript", text)


@pytest.mark.parametrize("env, event, expected", [
    ({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": SHA}, {}, SHA),
    ({"GITHUB_SERVER_URL": "https://ghe.corp:8443/", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "1" * 40},
     {"pull_request": {"head": {"sha": SHA}}}, SHA),
    ({"GITHUB_SERVER_URL": "javascript:alert(1)//", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": SHA}, {}, None),
    ({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r)x", "GITHUB_SHA": SHA}, {}, None),
    ({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "../r", "GITHUB_SHA": SHA}, {}, None),
    ({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "main"}, {}, None),
    ({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r"}, {"pull_request": "x"}, None),
    ({}, {}, None),
])
def test_links_only_from_parts_that_look_like_githubs(env, event, expected):
    links = links_from(env, event)
    assert (links.sha if links else None) == expected


def test_paths_that_are_not_plain_relative_paths_are_not_linked():
    assert LINKS.url("../etc/passwd") is None and LINKS.url("/abs.py") is None and LINKS.url("a//b.py") is None
    assert LINKS.url("svc/a b.py") == f"https://github.com/org/service/blob/{SHA}/svc/a%20b.py"


def test_report_links_files_to_the_head_commit(tmp_path):
    doc = summary(files=FILES)
    (tmp_path / "summary.json").write_text(json.dumps(doc))
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_REPOSITORY": "org/service", "GITHUB_SHA": SHA}
    assert report(tmp_path / "summary.json", env, io.StringIO()) == 0
    step = (tmp_path / "step.md").read_text()
    assert f"](https://github.com/org/service/blob/{SHA}/svc/app/db.py)" in step
    assert "### Coverage by file" in step


def test_a_long_path_shows_its_end_and_an_overlong_link_is_dropped():
    path = "svc/" + "very/" * 100 + "deep.py"
    row = table_rows(render(files=[entry(path, neither=[1])], changed=None))[0]
    shown = re.search(r"<code>(.*?)</code>", row).group(1)
    assert shown.startswith("…") and shown.endswith("very/deep.py") and len(shown) == 160 and "](https://" in row
    path = "svc/" + "%" * 1000 + ".py"  # each % is 3 characters in the link
    row = table_rows(render(files=[entry(path, neither=[1])], changed=None))[0]
    assert row.startswith("| <code>…") and "https://" not in row


def test_no_row_fits_says_so():
    s = Summary.from_json(summary(files=FILES))
    text = fit(s, 2000, None)
    assert len(text.encode()) <= 2000 and "4 files, none of whose rows fits here" in text


@pytest.mark.parametrize("path, path_in_repo, expected", [
    ("svc/tests/a.py", "svc", True), ("svc/app/test_a.py", "svc", True), ("svc/app/a_test.py", "svc", True),
    ("svc/app/conftest.py", "svc", True), ("svc/app/a.py", "svc", False), ("tests/x/app.py", "", True),
    ("tests/svc/app/a.py", "tests/svc", False),  # the project's own folder may be called tests
    ("other/tests/a.py", "svc", False), ("other/test_a.py", "svc", True), ("app/testing.py", ".", False),
])
def test_which_files_are_tests(path, path_in_repo, expected):
    assert is_test(path, path_in_repo) is expected


def test_order_is_stable_for_ties():
    s = Summary.from_json(summary(files=[entry("b.py", neither=[1]), entry("a.py", neither=[1])]))
    assert [f.path for f in ordered(s.coverage.files, set())] == ["a.py", "b.py"]
