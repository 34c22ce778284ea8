"""The session finds its own sockets connected to the test database (plugin/early_connections.py).

Real sockets: a listening TCP socket and a Unix socket named as PostgreSQL names its own, each with a
client connected from this process, found by the blocker's own address rule.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from async_test_harness.plugin import early_connections
from async_test_harness.plugin.blocker import Blocker


@pytest.fixture
def tcp_server() -> Iterator[Tuple[socket.socket, int]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server, server.getsockname()[1]
    finally:
        server.close()


def test_a_tcp_connection_to_the_database_port_is_found(tcp_server: Tuple[socket.socket, int]) -> None:
    _, port = tcp_server
    blocker = Blocker({port}, set())
    assert early_connections.open_to_database(blocker.is_db_address) is None  # listening is not connected
    client = socket.create_connection(("127.0.0.1", port))
    try:
        assert early_connections.open_to_database(blocker.is_db_address) == f"127.0.0.1:{port}"
    finally:
        client.close()
    assert early_connections.open_to_database(blocker.is_db_address) is None


def test_a_connection_to_another_port_is_not_the_database(tcp_server: Tuple[socket.socket, int]) -> None:
    _, port = tcp_server
    client = socket.create_connection(("127.0.0.1", port))
    try:
        assert early_connections.open_to_database(Blocker({port + 1}, set()).is_db_address) is None
    finally:
        client.close()


def test_a_unix_socket_connection_to_a_postgresql_socket_is_found(tmp_path: Path) -> None:
    path = str(tmp_path / ".s.PGSQL.5432")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    client = socket.socket(socket.AF_UNIX)
    try:
        client.connect(path)
        assert early_connections.open_to_database(Blocker(set(), {str(tmp_path)}).is_db_address) == path
    finally:
        client.close()
        server.close()


def test_without_proc_nothing_is_found(monkeypatch: pytest.MonkeyPatch, tcp_server: Tuple[socket.socket, int]) -> None:
    _, port = tcp_server
    monkeypatch.setattr(early_connections, "FD_FOLDER", "/nonexistent-fd-folder")
    client = socket.create_connection(("127.0.0.1", port))
    try:
        assert early_connections.open_to_database(Blocker({port}, set()).is_db_address) is None
    finally:
        client.close()
