"""pg_auth = trust never lets another local account in (issue 23, item 1).

Outside the image's container, another account on the machine connected to the harness's server on
127.0.0.1 as the superuser with no password and ran ``COPY ... TO PROGRAM 'id'``: code as the account
that runs PostgreSQL. Now trust holds on TCP only in the image's container (its own loopback); elsewhere
only on the private socket, unless the user opts in with ``trust-shared-host`` (with a warning line).
The other account here is ``nobody``, reached with setpriv (needs root, as CI runs).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

from async_test_harness.server.postgres import SupervisedServer, find_binaries, shares_host_network, trust_on_tcp

SETPRIV = shutil.which("setpriv")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV, reason="needs root and setpriv to act as 'nobody'")


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    nobody = pwd.getpwnam("nobody")
    return subprocess.run([SETPRIV, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                           "--reset-env", *command], capture_output=True, text=True, timeout=60, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "10"})


def psql() -> str:
    binaries = find_binaries()
    found = binaries.bindir / "psql"
    return str(found) if found.exists() else (shutil.which("psql") or pytest.skip("no psql"))


ATTACK = "COPY (SELECT 1) TO PROGRAM 'id > /dev/null'"


def attack(host: str, port: int) -> subprocess.CompletedProcess[str]:
    """What the other account tried: the superuser, no password (-w: never prompt), a program run."""
    return as_nobody(psql(), "-h", host, "-p", str(port), "-U", "postgres", "-d", "postgres", "-w", "-X",
                     "-v", "ON_ERROR_STOP=1", "-c", ATTACK)


@pytest.fixture
def server(request):
    started = SupervisedServer(auth=request.param, cluster="initdb", workdir="/tmp")
    info = started.start()
    yield info
    started.stop()


@pytest.mark.parametrize("server", ["trust"], indirect=True)
def test_with_trust_another_account_is_refused_on_tcp_and_on_the_socket(server):
    tcp = attack("127.0.0.1", server.port)
    assert tcp.returncode != 0, "another account ran a program through the trusting server:\n" + tcp.stdout
    assert "password" in tcp.stderr, tcp.stderr  # refused for want of the run's password
    sock = attack(server.socket_dir, server.port)
    assert sock.returncode != 0, sock.stdout
    assert "Permission denied" in sock.stderr or "No such file" in sock.stderr, sock.stderr


@pytest.mark.parametrize("server", ["password"], indirect=True)
def test_with_password_another_account_is_refused(server):
    assert attack("127.0.0.1", server.port).returncode != 0


@pytest.mark.parametrize("server", ["trust-shared-host"], indirect=True)
def test_trust_shared_host_is_what_it_says(server):
    """The opt-in does open TCP to every account: this is what the test above proves is closed."""
    done = attack("127.0.0.1", server.port)
    assert done.returncode == 0, done.stderr


def test_trust_holds_on_tcp_only_in_the_images_container(tmp_path):
    mark = tmp_path / "image"
    assert not trust_on_tcp("trust", mark), "no image mark: a shared machine"
    mark.write_text("async-test image\n")
    assert trust_on_tcp("trust", mark) == (not shares_host_network())
    assert trust_on_tcp("trust-shared-host", tmp_path / "none") and not trust_on_tcp("password", mark)


def test_a_network_namespace_with_dockers_bridge_is_the_hosts(tmp_path):
    dev = tmp_path / "dev"
    dev.write_text("Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n")
    assert not shares_host_network(dev)
    dev.write_text(dev.read_text() + "docker0: 0 0\n")
    assert shares_host_network(dev)
    assert shares_host_network(tmp_path / "missing")
