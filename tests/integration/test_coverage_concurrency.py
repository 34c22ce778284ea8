"""Code run in greenlets is measured (issue 22, item 7).

SQLAlchemy's async layer runs synchronous code in a greenlet (``greenlet_spawn``) that switches back
to the event loop at each ``await_only``. coverage.py's default tracing loses the lines of the
coroutine that ran after such a switch: the lines after ``await session.execute(...)`` in a service
(the example's integration coverage was 67.7 % on Python 3.9 and 73.7 % on 3.11, 77.9 % on both
with greenlet tracing). ``async-test run`` measures with ``concurrency = greenlet, thread`` when the
project's coverage configuration sets none; a project's own setting wins. The nox session
``coverage_pythons`` checks the example's figures are equal on Python 3.9-3.13.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import write_files

SERVICE = '''\
import asyncio

from sqlalchemy.util import await_only, greenlet_spawn


async def fetch(value):
    await asyncio.sleep(0)
    return value


def sync_part(value):
    first = await_only(fetch(value))
    second = first + 1
    third = await_only(fetch(second))
    return third * 2


async def service(value):
    before = value + 1
    result = await greenlet_spawn(sync_part, before)
    after = result + 1
    return after
'''

TEST = '''\
import asyncio

from app.service import service


def test_service():
    assert asyncio.run(service(1)) == 7
'''

AFTER_THE_SPAWN = [21, 22]  # "after = result + 1", "return after": run after the greenlet switched back


@pytest.fixture
def env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASYNC_TEST_", "_ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_"))
            and k != "DATABASE_URL"}


def missing_lines(project: Path, env: Dict[str, str], results: Path) -> List[int]:
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--only", "unit",
                           "--results-dir", str(results), "--cov-source", "app", "--", "-p", "no:randomly"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((results / "coverage.json").read_text())
    (entry,) = [f for name, f in report["files"].items() if name.endswith("service.py")]
    return sorted(entry["missing_lines"])


def project_at(root: Path, coveragerc: str = "") -> Path:
    files = {"pytest.ini": "[pytest]\n", "app/__init__.py": "", "app/service.py": SERVICE,
             "tests/test_service.py": TEST}
    if coveragerc:
        files[".coveragerc"] = coveragerc
    return write_files(root, files)


def test_lines_after_a_greenlet_switch_are_measured(tmp_path, env):
    assert missing_lines(project_at(tmp_path / "svc"), env, tmp_path / "results") == []


def test_the_projects_own_concurrency_wins(tmp_path, env):
    """concurrency = thread, set by the project: measured as the project asks (and loses those lines)."""
    project = project_at(tmp_path / "svc", "[run]\nconcurrency = thread\n")
    assert missing_lines(project, env, tmp_path / "results") == AFTER_THE_SPAWN
