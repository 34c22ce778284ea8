"""``async-test run --shard`` against hostile numbers and durations files (issue 22 item 6).

The real command, as a subprocess, on a small unit-only project (no PostgreSQL is started). Each
case was a traceback or a long hang before: ``--shard 1/100000000`` ran for 10-27 s into a
MemoryError, a duration of ``1e308`` overflowed the sums, 100,000 nested brackets were a
RecursionError, and a FIFO in place of the durations file made the run wait forever. Each is now
refused with one paragraph and exit 2, or ignored with one line, before any test runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from helpers import write_files

PROJECT = {
    "pytest.ini": "[pytest]\naddopts = -p no:randomly -p no:cacheprovider\n",
    "app/__init__.py": "",
    **{f"tests/test_m{n}.py": f"def test_a{n}():\n    assert True\n\n\ndef test_b{n}():\n    assert True\n"
       for n in range(4)},
}


@pytest.fixture
def env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}


def run(project: Path, env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--only", "unit",
                           "--results-dir", str(project.parent / "results"), *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("shard", ["1/100000000", "1/" + "9" * 5000])
def test_a_huge_number_of_shards_is_refused_in_one_line(tmp_path, env, shard):
    project = write_files(tmp_path / "svc", PROJECT)
    done = run(project, env, "--shard", shard)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "at most 10,000 shards" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stdout + done.stderr and not (tmp_path / "results").exists()


def test_durations_that_are_not_durations_are_ignored_with_one_line(tmp_path, env):
    project = write_files(tmp_path / "svc", PROJECT)
    (project / ".async-test-durations.json").write_text(
        '{"tests/test_m0.py::test_a0": 1e308, "tests/test_m1.py::test_a1": -3, "tests/test_m2.py::test_a2": NaN, '
        '"tests/test_m3.py::test_a3": 0.25}')
    seen = []
    for k in (1, 2):
        done = run(project, env, "--shard", f"{k}/2")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert "Traceback" not in done.stdout + done.stderr and "OverflowError" not in done.stdout
        assert "3 duration(s) ignored, not a number of seconds from 0 to 86400" in done.stdout
        s = json.loads((tmp_path / "results" / "summary.json").read_text())
        seen.append(s["passes"]["unit"]["counts"]["passed"])
        written = json.loads((tmp_path / "results" / "durations.json").read_text())["durations"]
        assert all(0 <= v < 86400 for v in written.values())
    assert sum(seen) == 8


@pytest.mark.parametrize(("text", "why"), [("[" * 100_000 + "]" * 100_000, "nests more than 32 levels"),
                                           ("fifo", "is a FIFO")])
def test_a_durations_file_nested_too_deep_or_a_fifo_is_refused_before_any_test_runs(tmp_path, env, text, why):
    project = write_files(tmp_path / "svc", PROJECT)
    path = project / ".async-test-durations.json"
    if text == "fifo":
        os.mkfifo(path)  # reading it used to wait forever for a writer (the timeout would end the test)
    else:
        path.write_text(text)
    done = run(project, env, "--shard", "1/2")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert why in done.stdout + done.stderr and "Traceback" not in done.stdout + done.stderr
    assert "RecursionError" not in done.stdout + done.stderr
    if text != "fifo":  # the runner reads a regular file first; the plugin refuses a FIFO (no test runs either way)
        assert not (tmp_path / "results" / "summary.json").exists()
    else:
        assert json.loads((tmp_path / "results" / "summary.json").read_text())["passes"]["unit"]["counts"]["total"] == 0
