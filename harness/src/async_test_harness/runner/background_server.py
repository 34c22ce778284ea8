"""The ephemeral PostgreSQL started in the background, and its hand-over to the passes.

The server starts in a thread while the unit tests run (they need no database); the integration
pass, or the one session, waits for it (``_wait_for_server``), or is handed a file that will
describe it once it is ready (``_hand_over``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .. import phases
from ..messages import one_line
from ..settings import Settings
from ..summary.model import InfrastructureError
from .results import PassResult
from .run_state import SERVER_FILE, RunState

if TYPE_CHECKING:  # postgres.py (and asyncio with it) is imported only when a pass needs the server
    from ..server.postgres import ServerInfo


class BackgroundServer:
    """Starts the ephemeral server in a thread so the unit pass does not wait for it."""

    def __init__(self, settings: Settings) -> None:
        from ..server.provision import server_for

        self.handle = server_for(settings)
        self.info: Optional[ServerInfo] = None
        self.error: Optional[str] = None
        self.seconds = 0.0
        self.waited = False  # by the runner (Run._wait_for_server), which then records the phases
        self._thread = threading.Thread(target=self._start, name="async-test-postgres", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from ..server.postgres import PostgresError

        began = time.monotonic()
        try:
            self.info = self.handle.start()
        except PostgresError as exc:
            self.error = str(exc)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        self.seconds = time.monotonic() - began

    def wait(self) -> Optional[ServerInfo]:
        self._thread.join()
        return self.info

    def alive(self) -> bool:
        proc = self.handle.process
        if self.info is None or proc is None or proc.poll() is not None:
            return False
        try:
            os.kill(self.info.pid, 0)
        except OSError:
            return False
        import socket

        try:
            socket.create_connection((self.info.host, self.info.port), timeout=2).close()
        except OSError:
            return False
        return True

    def log_tail(self) -> str:
        if self.info is None:
            return ""
        try:
            lines = (Path(self.info.workdir) / "server.log").read_text(errors="replace").splitlines()
            return "\n".join(lines[-15:])
        except OSError:
            return ""

    def stop(self) -> None:
        self._thread.join()
        self.handle.stop()



class ServerHandOver(RunState):
    def _hand_over(self, results: Path) -> Path:
        """Where the server starting in the background will be described for the session, once it is
        ready (server/provision.py): pytest imports itself and the project meanwhile."""
        from ..server import provision

        path = results / SERVER_FILE
        path.unlink(missing_ok=True)
        server = self.server
        assert server is not None

        def publish() -> None:
            server.wait()
            try:
                provision.publish_owned_server(path, server.info, server.error)
            except OSError:
                pass  # the session then reports that it waited in vain

        threading.Thread(target=publish, name="async-test-hand-over", daemon=True).start()
        return path

    def _integration_blocked(self, reason: str) -> PassResult:
        result = PassResult("integration", status="error")
        result.infrastructure_error = InfrastructureError("database", reason)
        return result

    def _wait_for_server(self) -> Optional[str]:
        """Wait for the background server (if the runner starts one); why it did not start, if it did not."""
        if self.server is None or self.server.waited:
            return self.server.error if self.server is not None else None
        waited = time.monotonic()
        self.server.wait()
        self.server.waited = True
        self.phases["database_wait"] = round(time.monotonic() - waited, 3)
        self.phases["database_start"] = round(self.server.seconds, 3)
        if self.server.error:
            return self.server.error
        assert self.server.info is not None
        self.secrets.append(self.server.info.password)
        return None

    def _announce_server(self) -> None:
        """Before the integration pass: wait for the server started in the background and say how its
        start went, with its times, as a phase of its own (a slow or failed start is seen there)."""
        if self.server is None or self.server.waited:
            return
        self.console.rule(phases.POSTGRES)
        error = self._wait_for_server()
        waited = self.phases.get("database_wait", 0.0)
        if error is not None:
            self.console.line(f"async-test: PostgreSQL did not start ({self.server.seconds:.1f}s): {one_line(error)}",
                              "red")
        elif self.server.info is not None:
            self.console.line(f"async-test: PostgreSQL {self.server.info.version} started in the background in "
                              f"{self.server.seconds:.1f}s; the integration pass waited {waited:.1f}s for it", "dim")

    def _note_lost_server(self, result: PassResult) -> None:
        """The server died while the integration tests ran: that explains their failures, say so."""
        if self.server is None or self.interrupted or self.server.alive():
            return
        tail = self.server.log_tail()
        result.infrastructure_error = InfrastructureError(
            "database",
            "PostgreSQL stopped during the integration pass; tests that failed after that point "
            "failed for that reason." + (f" Server log:\n{tail}" if tail else ""),
        )
        result.status = "error"
