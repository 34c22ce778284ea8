"""The coverage HTML report as a person sees it: a headless Chromium screenshot (issue 17 item 2).

A small generated project is measured for real (coverage.py, one process per kind, as the runner's
two data files), reported by ``build_reports(html=True)``, and its page is rendered by Chromium.
The screenshot's pixels must show each colour on whole lines of code, in the source's order: the
function both kinds run (green), the one only mocked unit tests reach (amber), the one only
integration tests reach (blue), and the line no test runs in coverage.py's red. The same page
without our stylesheet shows none of the three: what the test sees is the colouring, not the legend.

Needs ``chromium`` (Debian's package; ``.ci/run`` installs it); skipped, saying so, without it.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from async_test_harness.runner.coverage_reports import build_reports
from async_test_harness.runner.project import find_project
from helpers import write_files
from png import read_png

pytestmark = pytest.mark.slow

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
WIDTH, HEIGHT = 1000, 800
AMBER, BLUE, GREEN = (0xFF, 0xD2, 0x7A), (0x9C, 0xC9, 0xFF), (0xA6, 0xE3, 0xA6)  # coverage_html.CSS
RED = (0xFF, 0xDD, 0xDD)  # coverage.py's own "missing" (#fdd)

SOURCE = textwrap.dedent("""\
    def shared(x):
        y = x + 1
        return y


    def mocked_only(x):
        y = x * 2
        return y


    def database_only(x):
        y = x - 1
        return y


    def never(x):
        return x
""")
# One process per kind, as the runner's passes: each writes its own data file.
MEASURE = textwrap.dedent("""\
    import sys
    import coverage
    kind, results = sys.argv[1], sys.argv[2]
    cov = coverage.Coverage(data_file=f"{results}/.coverage.{kind}", source=["app", "tests"])
    cov.start()
    from app import calc
    import tests.test_calc
    calc.shared(1)
    if kind == "unit":
        calc.mocked_only(1)
    else:
        calc.database_only(1)
    cov.stop()
    cov.save()
""")


def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "proj", {
        "pyproject.toml": "[tool.pytest.ini_options]\n",
        "app/__init__.py": "", "app/calc.py": SOURCE,
        "tests/__init__.py": "", "tests/test_calc.py": "def test_nothing():\n    assert True\n",
    })


def screenshot(page: Path, out: Path, profile: Path) -> list:
    assert CHROMIUM
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--force-device-scale-factor=1", "--force-color-profile=srgb", f"--user-data-dir={profile}",
         f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={out}", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert out.is_file(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    width, height, rows = read_png(out.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    return rows


def bands(rows: list, colour: tuple) -> list:
    """Runs of screenshot rows where the colour covers more than half the width (a line's background;
    the legend's swatches are a few pixels wide), as (first row, last row)."""
    found = []
    for y, row in enumerate(rows):
        if sum(1 for p in row if p == colour) > WIDTH // 2:
            if found and found[-1][1] == y - 1:
                found[-1] = (found[-1][0], y)
            else:
                found.append((y, y))
    return found


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run installs it): "
                                             "the HTML report's colours are checked by the golden tests only")
def test_the_report_shows_who_ran_each_line(tmp_path):
    root = project(tmp_path)
    results = root / ".async-test"
    results.mkdir()
    for kind in ("unit", "integration"):
        subprocess.run([sys.executable, "-c", MEASURE, kind, str(results)], cwd=root, check=True,
                       env={**os.environ, "COVERAGE_PROCESS_START": "", "COVERAGE_RCFILE": "/dev/null"})
    coverage = build_reports(results, find_project(str(root), ["app", "tests"]), html=True)
    calc = next(f for f in coverage.files if f.path.endswith("app/calc.py"))
    assert calc.unit_only == (7, 8) and calc.integration_only == (12, 13) and calc.neither == (17,)
    html = results / "html"
    index = (html / "index.html").read_text()
    assert "test_calc" not in index and "2 test file(s) left out" in index  # tests/__init__.py too
    page = next(html.glob("*calc_py.html"))

    rows = screenshot(page, tmp_path / "page.png", tmp_path / "profile")
    green, amber, blue, red = (bands(rows, c) for c in (GREEN, AMBER, BLUE, RED))
    # def shared + its body, and each def line (run at import by both kinds): green; 7-8 amber; 12-13 blue
    assert amber and blue and green and red, (green, amber, blue, red)
    line_height = amber[0][1] - amber[0][0] + 1
    assert line_height >= 2 * 12, f"two lines of code in one amber band, got {amber}"
    assert len(amber) == len(blue) == 1 and len(red) == 1
    assert green[0][0] < amber[0][0] < blue[0][0] < red[0][0], (green, amber, blue, red)
    assert any(g[0] < amber[0][0] for g in green) and any(amber[0][1] < g[0] < blue[0][0] for g in green)

    # The same page without our stylesheet: none of the three colours on a line. The test sees the colouring.
    bare = page.with_name("bare.html")
    bare.write_text(re.sub(r'<link rel="stylesheet" href="async-test.css"[^>]*>', "", page.read_text()))
    rows = screenshot(bare, tmp_path / "bare.png", tmp_path / "profile")
    assert not bands(rows, AMBER) and not bands(rows, BLUE) and not bands(rows, GREEN)
    assert bands(rows, RED)  # coverage.py's own colours still render
