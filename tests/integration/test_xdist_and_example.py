"""xdist (one server, one database per worker) and the example service end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLE, postgres_processes


def test_xdist_gives_each_worker_its_own_clone(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\npythonpath = .\nasync_test_metadata = models:Base\n")
    pytester.makepyfile(models="""
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

        class Base(DeclarativeBase):
            pass

        class Row(Base):
            __tablename__ = "rows"
            id: Mapped[int] = mapped_column(primary_key=True)
    """)
    pytester.makepyfile(test_par="""
        import os
        import pytest
        from sqlalchemy import text

        @pytest.mark.parametrize("i", range(12))
        async def test_insert(async_db_session, i):
            db = await async_db_session.scalar(text("SELECT current_database()"))
            assert db == "test_" + os.environ["PYTEST_XDIST_WORKER"]
            assert os.environ["PGDATABASE"] == db
            await async_db_session.execute(text("INSERT INTO rows (id) VALUES (1)"))
            await async_db_session.commit()
            assert await async_db_session.scalar(text("SELECT count(*) FROM rows")) == 1

        @pytest.mark.integration(isolation="database")
        @pytest.mark.parametrize("i", range(4))
        async def test_fresh_clones_in_parallel(async_engine, i):
            async with async_engine.begin() as conn:
                await conn.execute(text("INSERT INTO rows (id) VALUES (7)"))
    """)
    result = run_pytest("-n", "2", "-v")
    result.assert_outcomes(passed=16)
    out = result.stdout.str()
    assert "[gw0]" in out and "[gw1]" in out


def test_xdist_template_failure_is_reported_once_and_leaves_no_server(pytester, run_pytest, private_pg_workdir):
    """The controller provisions before its conftests and workers: a failure there ends the run with
    the usage-error exit code and the cause, no worker hangs, nothing is left."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_schema_sql = schema.sql\n")
    (pytester.path / "schema.sql").write_text("CREATE TABEL oops (id int);")
    pytester.makepyfile(test_x="async def test_x(async_db_session): pass")
    result = run_pytest("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "the test database could not be started" in err
    assert 'syntax error at or near "TABEL"' in err
    assert not postgres_processes(under=private_pg_workdir)
    assert not list(Path(private_pg_workdir).iterdir()), "a data directory was left behind"


def example_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_"))}
    env.pop("DATABASE_URL", None)
    return env


@pytest.mark.parametrize("args", [[], ["-n", "2"], ["--async-test-kind=unit"], ["--async-test-kind=integration"]],
                         ids=["serial", "xdist", "unit-only", "integration-only"])
def test_example_service_is_green(args):
    """The example as a user runs it: `pytest` in backend/, nothing else configured."""
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args]
    result = subprocess.run(cmd, cwd=EXAMPLE, env=example_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    expected = {"": "13 passed", "unit": "6 passed", "integration": "7 passed"}
    kind = next((a.split("=")[1] for a in args if a.startswith("--async-test-kind")), "")
    assert expected[kind] in summary, summary
