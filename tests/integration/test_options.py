"""Options not covered elsewhere, through pytest as a user sets them."""

import os
import socket
import tempfile
from pathlib import Path

import pytest


def test_custom_paths_and_db_fixture_names(pytester, run_pytest):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\n"
        "async_test_unit_paths = */fast/*\n"
        "async_test_integration_paths = */slow/*\n"
        "async_test_db_fixtures = repo\n"
    )
    for folder, body in {
        "fast": "def test_f():\n    pass\n",
        "slow": "def test_s():\n    pass\n",
        "other": "import pytest\n\n@pytest.fixture\ndef repo():\n    return 1\n\ndef test_repo(repo):\n    pass\n",
    }.items():
        (pytester.path / "t" / folder).mkdir(parents=True)
        (pytester.path / "t" / folder / f"test_{folder}.py").write_text(body)
    out = run_pytest("--collect-only", "-v").stdout.str()
    assert "async-test: unit        t/fast/test_fast.py::test_f  (path matches '*/fast/*')" in out
    assert "async-test: integration t/slow/test_slow.py::test_s  (path matches '*/slow/*')" in out
    assert "async-test: integration t/other/test_other.py::test_repo  (uses database fixture 'repo')" in out


def test_command_line_spelling_wins_over_ini(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_kind = integration\n")
    pytester.makepyfile(test_k="def test_unit():\n    pass\n")
    result = run_pytest("--async-test-kind=unit", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*kind=unit (command line --async-test-kind)*"])


def test_pg_port_is_used_for_code_that_hard_codes_it(pytester, run_pytest):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytester.makeini(f"[pytest]\nasyncio_mode = auto\nasync_test_pg_port = {port}\n")
    pytester.makepyfile(test_port=f"""
        import asyncpg, os, pytest

        @pytest.mark.integration
        async def test_hard_coded():
            conn = await asyncpg.connect(host="localhost", port={port}, user="postgres",
                                         password=os.environ["PGPASSWORD"], database=os.environ["PGDATABASE"])
            await conn.close()
    """)
    run_pytest().assert_outcomes(passed=1)


HARD_CODED_TRUST = """
    import os
    from unittest.mock import patch

    import asyncpg, psycopg2, pytest

    URL = "postgresql://postgres@localhost:{port}/postgres"  # no password, as some suites hard-code

    @pytest.fixture(autouse=True)
    def clean_environment():
        # as such suites do: so the exported PGPASSWORD cannot help
        with patch.dict(os.environ, {"PATH": os.environ["PATH"]}, clear=True):
            yield

    @pytest.mark.integration
    async def test_asyncpg_without_password():
        conn = await asyncpg.connect(URL)
        assert await conn.fetchval("select current_user") == "postgres"
        await conn.close()

    @pytest.mark.integration
    def test_psycopg2_without_password():
        with psycopg2.connect(URL) as conn, conn.cursor() as cur:
            cur.execute("select 1")
"""


@pytest.mark.parametrize("auth", ["trust-shared-host", "trust", "password"])
def test_pg_auth_trust_accepts_a_hard_coded_password_less_url(pytester, run_pytest, auth):
    """On a machine (not the image), a password-less TCP URL works only with the explicit opt-in;
    trust alone keeps TCP behind the password and says why (tests/hostile/test_trust_hostile.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytester.makeini(f"[pytest]\nasyncio_mode = auto\nasync_test_pg_port = {port}\nasync_test_pg_auth = {auth}\n")
    pytester.makepyfile(test_trust=HARD_CODED_TRUST.replace("{port}", str(port)))
    result = run_pytest("-p", "no:randomly")
    output = result.stdout.str() + result.stderr.str()
    if auth == "trust-shared-host":
        result.assert_outcomes(passed=2)
        assert "warning: pg_auth = trust-shared-host: while the tests run, any account on this machine" in output
    else:  # a password per run, which such a suite does not send
        result.assert_outcomes(failed=2)
        assert "password" in result.stdout.str()
    if auth == "trust":
        assert "pg_auth = trust: outside the async-test image's container" in output, output[-3000:]


def test_pytest9_native_table_takes_toml_types(pytester, run_pytest, monkeypatch):
    """pytest 9's [tool.pytest] keeps TOML's types; the harness reads them as an ini file's strings."""
    monkeypatch.delenv("ASYNC_TEST_BLOCK_DB")  # the table's own block_db decides
    pytester.makepyprojecttoml(
        '[tool.pytest]\nasyncio_mode = "auto"\nasync_test_block_db = false\n'
        'async_test_extensions = ["citext"]\nasync_test_env = ["APP_DB={url}"]\nasync_test_timeout = 30\n'
    )
    pytester.makepyfile(test_native="""
        import os, psycopg2

        def test_settings_took_effect():
            with psycopg2.connect(os.environ["APP_DB"]) as conn, conn.cursor() as cur:  # not blocked
                cur.execute("select extname from pg_extension where extname = 'citext'")
                assert cur.fetchone() == ("citext",)
    """)
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*block_db=False (ini async_test_block_db)*"])


def test_bad_pg_bin_dir_names_the_fix(pytester, run_pytest, tmp_path):
    pytester.makeini(f"[pytest]\nasync_test_pg_bin_dir = {tmp_path}\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"pg_bin_dir is {tmp_path}, but no working 'postgres' and 'initdb' are there" in result.stderr.str()


def test_pg_workdir_holds_the_server_data(pytester, run_pytest):
    workdir = Path(tempfile.mkdtemp(prefix="async-test-workdir-"))
    workdir.chmod(0o777)
    pytester.makeini(f"[pytest]\nasyncio_mode = auto\nasync_test_pg_workdir = {workdir}\n")
    pytester.makepyfile(test_w="""
        from sqlalchemy import text

        async def test_where(async_db_session):
            assert (await async_db_session.scalar(text("SHOW data_directory"))).startswith("WORKDIR")
    """.replace("WORKDIR", str(workdir)))
    run_pytest().assert_outcomes(passed=1)
    assert list(workdir.iterdir()) == [], "the server's directory is removed afterwards"
    workdir.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another account only when we are root")
def test_unreachable_pg_workdir_explains_the_account(pytester, run_pytest, tmp_path):
    private = tmp_path / "private"  # under pytest's 0700 temp dir: the postgres account cannot enter
    private.mkdir()
    pytester.makeini(f"[pytest]\nasync_test_pg_workdir = {private}\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "PostgreSQL exited while starting. The server runs as 'postgres'" in result.stderr.str()
