"""The xdist controller provisions the run while its workers start.

Under xdist the controller starts the server and builds the template, and each
worker clones its database from that template.  Done in that order, a worker is
only spawned once the template exists, and then spends most of a second
importing pytest, the plugins and the project before it needs the database.  So
the controller provisions in a background thread, gives each worker the path of
a file instead of the run itself, and writes the run (or the reason it could not
be started) there when it is ready; a worker waits for that file when it gets to
its own database.  The controller joins the thread before its test loop, so a
failure is still reported once, by the controller, as before.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from .provision import RunDatabase


class HandoffFailed(RuntimeError):
    """The controller could not provision the run; the message says why (masked)."""


class Handoff:
    """Controller side: run ``provision`` in a thread and publish its outcome to ``path``."""

    def __init__(self, provision: Callable[[], RunDatabase], describe: Callable[[BaseException], str]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="async-test-handoff-"))
        self.path = str(self._dir / "run.json")
        self._provision = provision
        self._describe = describe
        self._run: Optional[RunDatabase] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._work, name="async-test-provision", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self._run = self._provision()
            payload = {"run": self._run.to_json()}
        except BaseException as exc:  # re-raised by wait() in the controller's main thread
            self._error = exc
            payload = {"error": self._describe(exc)}
        staging = self.path + ".tmp"
        with open(staging, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(staging, self.path)  # a worker never reads half a file

    def wait(self) -> RunDatabase:
        """The provisioned run; raises what provisioning raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._run is not None
        return self._run

    def close(self) -> None:
        """After the workers are gone: wait for the thread (it may own a server to stop) and tidy up."""
        self._thread.join()
        shutil.rmtree(self._dir, ignore_errors=True)


def receive(path: str, timeout: float = 1800.0) -> RunDatabase:
    """Worker side: the run the controller published at ``path``.

    The timeout only guards against a controller that hangs; one that dies takes its workers
    with it (xdist), and one that fails writes the reason, raised here as ``HandoffFailed``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise HandoffFailed(
                f"The xdist controller did not provision the test database within {timeout:.0f}s "
                f"(nothing at {path}). Check the controller's output above for the cause."
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    with open(path, encoding="utf-8") as handle:
        payload = json.load(handle)
    if "error" in payload:
        raise HandoffFailed(str(payload["error"]))
    return RunDatabase.from_json(payload["run"])
