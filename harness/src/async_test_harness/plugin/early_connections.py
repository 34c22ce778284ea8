"""Connections to the test database already open when the one session's collection ends.

The runner's default run is one pytest session for both kinds of test (runner/session.py); two
processes import the project twice, the unit process with the database blocked. An app that opens
a connection at import (``CONNECTION = psycopg2.connect(...)`` in a module) therefore fails the unit
process's collection of every unit module importing it, while the one session has imported it with
the database there. The blocker refuses the *use* of connections it can see (SQLAlchemy, asyncpg,
psycopg 3), but not psycopg2's (C objects), pg8000's raw sockets or a driver it does not know, and
even where it refuses, a refusal at the test's call is not the collection error two processes give.

So, when the collection of the runner's session ends with a socket of this process connected to
the blocked database, the unit tests are handed back to the runner: the session runs the integration
tests only, and the runner gives the unit tests a process of their own (runner/pass_processes.py),
exactly as ``--separate-passes`` runs them. Every driver, C or not, is caught, and a project that
opens nothing at import (nearly all: an engine made at import connects only when used) pays one
look at its open files (about 0.2 ms with 46 open descriptors).

Only under the runner (``SESSION_ENV``, set with the selection file it reads): plain ``pytest``
has no second process to hand the unit tests to, and keeps them (docs/unit-and-integration.md).
"""

from __future__ import annotations

import os
import socket
from typing import Any, List, Optional

import pytest

SESSION_ENV = "_ASYNC_TEST_ONE_SESSION"  # runner/session.py sets it in the session's environment
DEFERRED_KEY = pytest.StashKey[str]()  # why the unit tests were handed back (plugin/selection.py writes it)
FD_FOLDER = "/proc/self/fd"


def in_runner_session() -> bool:
    return os.environ.get(SESSION_ENV) == "1"


def socket_peers() -> List[Any]:
    """The peer address of each connected socket this process holds (Linux; elsewhere none).

    Each descriptor that is a socket is duplicated and asked ``getpeername``: a Unix socket answers
    the server's socket path (``/tmp/x/.s.PGSQL.5432``), TCP a ``(host, port)`` pair.
    """
    try:
        names = os.listdir(FD_FOLDER)
    except OSError:
        return []
    peers = []
    for name in names:
        try:
            if not os.readlink(f"{FD_FOLDER}/{name}").startswith("socket:"):
                continue
            duplicate = os.dup(int(name))
        except (OSError, ValueError):
            continue  # closed meanwhile (the listing's own descriptor among them)
        try:
            sock = socket.socket(fileno=duplicate)
        except OSError:
            os.close(duplicate)
            continue
        try:
            peers.append(sock.getpeername())
        except OSError:
            pass  # a listening or unconnected socket
        finally:
            sock.close()  # the duplicate only
    return peers


def describe(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return peer.decode("utf-8", "replace") if isinstance(peer, bytes) else str(peer)


def open_to_database(is_db_address: Any) -> Optional[str]:
    """The first database address this process is connected to (``is_db_address``: the blocker's rule), or None."""
    for peer in socket_peers():
        if peer and is_db_address(peer):
            return describe(peer)
    return None


def defer_unit_tests(config: pytest.Config, items: List[pytest.Item], units: List[pytest.Item], address: str) -> None:
    """Deselect the unit tests from the session; the runner runs them in a process of their own."""
    config.hook.pytest_deselected(items=units)
    gone = set(map(id, units))
    items[:] = [item for item in items if id(item) not in gone]
    config.stash[DEFERRED_KEY] = (
        f"a connection to the test database ({address}) was open when collection ended (opened at import or by a "
        "conftest.py): one session cannot keep unit tests away from it, so they run in a process of their own, "
        "as --separate-passes runs them")
