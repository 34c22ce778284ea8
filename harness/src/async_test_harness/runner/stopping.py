"""Ctrl-C and SIGTERM: the runner stops its pytest processes in steps, so they write their results.

The runner's handler only sets a flag and wakes a thread (through a pipe); that thread says so on
the console and stops the processes. A handler that wrote to the console could land inside the
main thread's own write to it (a reentrant call to a buffered stream raises), one that started a
thread could wait forever on a lock the main thread held when the signal came.
"""

from __future__ import annotations

import os
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

    def _start_stopper(self) -> None:
        """Before the handlers are installed: the thread that stops the tests once a signal came."""
        read, self._signal_pipe = os.pipe()
        threading.Thread(target=self._stopper, args=(read,), name="async-test-stop", daemon=True).start()

    def _end_stopper(self) -> None:
        """After the handlers are restored: the stopper's pipe closed, and with it the thread."""
        if self._signal_pipe is not None:
            os.close(self._signal_pipe)
            self._signal_pipe = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Sets a flag and writes one byte, nothing else: it never raises, takes no lock and writes to no
        stream (the main thread may be inside a write to the console, or holding a lock, when it runs)."""
        if self.interrupted:
            return
        self.interrupted = True
        if self._signal_pipe is not None:
            try:
                os.write(self._signal_pipe, bytes([signum]))
            except OSError:
                pass

    def _stopper(self, read: int) -> None:
        try:
            data = os.read(read, 1)
        finally:
            os.close(read)
        if not data:
            return
        self.console.line(f"async-test: {signal.Signals(data[0]).name} received: stopping the tests", "yellow")
        self._stop_children()

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

