"""What a failure leaves behind (issue 12, items 14 and 16): a broken conftest is annotated once at
its line; a killed postmaster leaves no shared memory segments in /dev/shm."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from async_test_harness.github.report import report
from async_test_harness.server.postgres import SupervisedServer

SHM = Path("/dev/shm")


def test_a_conftest_that_fails_to_import_is_annotated_once_at_its_line(tmp_path: Path, pg_cluster: str):
    project = tmp_path / "svc"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    (project / "conftest.py").write_text("import os\n\nSETTINGS = {}\nraise RuntimeError('DB_DSN is not set')\n")
    (project / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNC_TEST_", "PYTEST_"))}
    env["ASYNC_TEST_PG_CLUSTER"] = pg_cluster
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout[-3000:]  # a conftest that fails: a configuration error
    summary_path = project / ".async-test" / "summary.json"
    failures = [f for p in json.loads(summary_path.read_text())["passes"].values() for f in p["failures"]]
    assert [(f["file"], f["line"]) for f in failures] == [("conftest.py", 4)], failures
    assert "DB_DSN is not set" in failures[0]["message"]
    log = io.StringIO()
    report(summary_path, {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"),
                          "GITHUB_OUTPUT": str(tmp_path / "out.txt")}, log)
    errors = [line for line in log.getvalue().splitlines() if line.startswith("::error file=conftest.py")]
    assert len(errors) == 1 and ",line=4," in errors[0], log.getvalue()[-3000:]


def mapped_segments(pid: int) -> set:
    """The /dev/shm/PostgreSQL.* segments a server process has mapped: whose they are, even while
    other servers come and go (a segment's name is a random handle)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    return {line.split("/dev/shm/")[1].split()[0] for line in maps.splitlines() if "/dev/shm/PostgreSQL." in line}


@pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm on this machine")
def test_a_killed_postmaster_leaves_no_shared_memory_segment(pg_cluster: str):
    server = SupervisedServer(cluster=pg_cluster)
    info = server.start()
    try:
        import psycopg2

        with psycopg2.connect(host=info.host, port=info.port, user=info.user, password=info.password,
                              dbname="postgres") as conn, conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "
                        "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0")
            cur.execute("SELECT count(*) FROM generate_series(1, 200000)")  # parallel query: DSM in use
            used = mapped_segments(info.pid)
            cur.execute("SHOW dynamic_shared_memory_type")
            kind = cur.fetchone()[0]
        os.kill(info.pid, signal.SIGKILL)  # a postmaster cannot clean up after kill -9
        time.sleep(0.5)
    finally:
        server.stop()
    left = {name for name in used if (SHM / name).exists()}
    assert not left, f"{kind} dynamic shared memory left in /dev/shm: {sorted(left)}"
    assert not Path(info.workdir).exists(), "the data directory outlived the server"
