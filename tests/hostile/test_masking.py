"""An external database's password never lands where async-test writes (issue 12, item 4).

With ``database_url`` pointing at a real server, its password outlives the run. A test that prints
the URL (or the password, or takes it as a parameter, so it is in the test's id) must not put it
into the JUnit XML, the events file, summary.json, pytest's cache in the results folder, the pass
logs, or the console: everything is masked as summary.json always was (``connection.mask_text``).
No PostgreSQL is needed: the unit pass never connects, and the integration pass's connection to
a port nobody listens on fails fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import REPO

# JSON, XML, URLs and repr() all escape some of these: a mask applied to escaped text would miss it.
PASSWORD = 'Zebra42"&<x\\y%é'
MARK = "Zebra42"
URL = f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:1/postgres"

TESTS = '''
import os
from urllib.parse import unquote, urlsplit

import pytest

URL = os.environ["ASYNC_TEST_DATABASE_URL"]
PASSWORD = unquote(urlsplit(URL).password)


def test_prints_the_url_and_fails():
    print("url:", URL)
    print("password:", PASSWORD)
    assert False, f"could not reach {URL} with {PASSWORD!r}"


@pytest.mark.parametrize("secret", [PASSWORD, URL])
def test_has_it_in_its_id(secret):
    assert not secret


def test_passes():
    print("password:", PASSWORD)
'''


def project(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    (root / "tests" / "unit" / "test_leak.py").write_text(textwrap.dedent(TESTS))
    return root


def run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = project(tmp_path)
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_"))}
    env.update(ASYNC_TEST_DATABASE_URL=URL, PYTHONPATH=str(REPO / "harness" / "src"), PYTHONIOENCODING="utf-8")
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(root), "--results-dir",
                           str(results), "--no-coverage", *args], env=env, capture_output=True, text=True,
                          encoding="utf-8", errors="surrogateescape", timeout=600)
    return done, results


def texts(results: Path) -> dict[str, str]:
    """Every file of the results folder, with XML and JSON read back (so escapes are undone)."""
    found = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        raw = path.read_bytes().decode("utf-8", "replace")
        found[str(path.relative_to(results))] = raw
        if path.suffix == ".xml":
            root = ET.fromstring(path.read_bytes())
            found[f"{path.name} (parsed)"] = "\n".join(
                [*(e.text or "" for e in root.iter()), *(v for e in root.iter() for v in e.attrib.values())])
        elif path.suffix == ".jsonl":
            found[f"{path.name} (parsed)"] = "\n".join(json.dumps(json.loads(line), ensure_ascii=False)
                                                       for line in raw.splitlines() if line.strip())
        elif path.suffix == ".json" or path.parent.name == "cache":
            found[f"{path.name} (parsed)"] = json.dumps(json.loads(raw), ensure_ascii=False)
    return found


def assert_masked(where: str, text: str) -> None:
    for form in (MARK, PASSWORD, quote(PASSWORD, safe="")):
        assert form not in text, f"the password reached {where}:\n{text[-3000:]}"


def test_the_password_reaches_no_file_and_not_the_console(tmp_path):
    done, results = run(tmp_path, "--only", "unit")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    files = texts(results)
    assert {"junit-unit.xml", "events-unit.jsonl", "summary.json", "summary.md"} <= set(files), sorted(files)
    for where, text in files.items():
        assert_masked(where, text)
    assert_masked("the console", done.stdout + done.stderr)
    # the output was there, masked: the tests' failures are still reported in full
    assert "could not reach postgresql://app:***@127.0.0.1:1/postgres with '***'" in files["junit-unit.xml (parsed)"]
    summary = json.loads(files["summary.json"])
    assert summary["passes"]["unit"]["counts"] == {**summary["passes"]["unit"]["counts"], "failed": 3, "passed": 1}
    assert "password: ***" in done.stdout, "the console still shows the tests' output"


@pytest.mark.slow
def test_the_pass_logs_of_a_parallel_run_are_masked(tmp_path):
    done, results = run(tmp_path, "--parallel")
    files = texts(results)
    assert {"unit.log", "integration.log"} <= set(files), (sorted(files), done.stdout[-2000:])
    for where, text in files.items():
        assert_masked(where, text)
    assert_masked("the console", done.stdout + done.stderr)
    assert "password: ***" in files["unit.log"]


def test_mask_text_finds_the_escaped_forms_of_a_secret():
    from async_test_harness.masking import MASK, mask_data, mask_text

    for form in (PASSWORD, quote(PASSWORD, safe=""), repr(PASSWORD)[1:-1], PASSWORD.encode("unicode_escape").decode()):
        assert mask_text(f"before {form} after", [PASSWORD]) == f"before {MASK} after", form
    doc = {"a": [PASSWORD, {"k": f"x{PASSWORD}"}], PASSWORD: 1, "n": 2}
    assert json.dumps(mask_data(doc, [PASSWORD])).count(MARK) == 0
    assert mask_data(doc, [PASSWORD])["n"] == 2
