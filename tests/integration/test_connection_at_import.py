"""A project that connects to the test database at import: the unit tests run in a process of their own,
and every report says why (plugin/early_connections.py). A new user's trial found the reason only on the
console: summary.md (so the job summary and the comment) showed a unit module's "connection refused"
collection error with no word of why.
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


@pytest.fixture
def env(pg_cluster: str) -> Dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    return dict(clean, ASYNC_TEST_PG_CLUSTER=pg_cluster)


def run(project: Path, env: Dict[str, str], results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                           str(results), "--cov-source", "app", *args, "--", "-p", "no:randomly"],
                          env=env, capture_output=True, text=True, timeout=300)


CONNECTS_AT_IMPORT = {
    "pytest.ini": ("[pytest]\nasyncio_mode = strict\n"
                   "async_test_env = REPORTING_DSN={url}\n"
                   "async_test_schema_sql = schema.sql\n"),
    "schema.sql": "CREATE TABLE t (id int);\n",
    "app/__init__.py": "",
    "app/reporting.py": ("import os\n\nimport psycopg2\n\n"
                         "CONNECTION = psycopg2.connect(os.environ['REPORTING_DSN'])\n\n\n"
                         "def fmt(rows):\n    return ','.join(rows)\n"),
    "tests/unit/test_reporting.py": ("from app.reporting import fmt\n\n\n"
                                     "def test_fmt():\n    assert fmt(['a', 'b']) == 'a,b'\n"),
    "tests/integration/test_db.py": '''\
import pytest
from sqlalchemy import text


@pytest.mark.asyncio
async def test_select(async_db_session):
    assert (await async_db_session.execute(text("SELECT 1"))).scalar() == 1
''',
}


def test_the_reason_for_the_unit_process_reaches_the_summary(tmp_path: Path, env: Dict[str, str]) -> None:
    pytest.importorskip("psycopg2")
    repo = write_files(tmp_path / "repo", CONNECTS_AT_IMPORT)
    results = tmp_path / "results"
    done = run(repo, env, results)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    # the premise: the console says why the unit tests ran apart
    assert "unit pass (a process of its own)" in done.stdout
    assert "was open when collection ended" in done.stdout
    # and summary.md (the job summary, the comment) and summary.json say it beside the collection error
    markdown = (results / "summary.md").read_text()
    assert "was open when collection ended" in markdown and "run in a process of their own" in markdown, markdown
    summary = json.loads((results / "summary.json").read_text())
    assert any("was open when collection ended" in w for w in summary["passes"]["unit"]["warnings"])


def test_an_engine_made_at_import_keeps_one_session(tmp_path: Path, env: Dict[str, str]) -> None:
    """No false alarm: an engine made at import connects only when used."""
    files = dict(CONNECTS_AT_IMPORT)
    files["app/reporting.py"] = ("import os\n\nfrom sqlalchemy import create_engine\n\n"
                                 "ENGINE = create_engine(os.environ['REPORTING_DSN'])\n\n\n"
                                 "def fmt(rows):\n    return ','.join(rows)\n")
    repo = write_files(tmp_path / "repo", files)
    done = run(repo, env, tmp_path / "results")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "process of its own" not in done.stdout and "(one pytest session)" in done.stdout
