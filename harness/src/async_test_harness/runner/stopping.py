"""Ctrl-C and SIGTERM: the runner stops its pytest processes in steps, so they write their results.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from .run_state import RunState


class Stopping(RunState):

    # SIGINT lets pytest write its results and run teardown; a second one gets past code that is
    # blocked inside asyncio's own SIGINT handling (a running loop only cancels its task on the first).
    # Docker's stop waits 10 s before SIGKILL, so the whole sequence fits in that.
    STOP_SEQUENCE = ((signal.SIGINT, 2.0), (signal.SIGINT, 4.0), (signal.SIGKILL, 2.0))

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            return
        self.interrupted = True
        self.console.line(f"async-test: {signal.Signals(signum).name} received: stopping the tests", "yellow")
        threading.Thread(target=self._stop_children, name="async-test-stop", daemon=True).start()

    def _stop_children(self) -> None:
        for sig, grace in self.STOP_SEQUENCE:
            running = [c for c in self.children if c.poll() is None]
            if not running:
                return
            for child in running:
                try:
                    child.send_signal(sig)
                except OSError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(c.poll() is None for c in running):
                time.sleep(0.05)

