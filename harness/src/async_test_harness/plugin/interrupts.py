"""Ctrl-C in a pytest process of ``async-test run``: a KeyboardInterrupt is never swallowed and printed.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT's handler runs,
also inside a weakref callback or a ``__del__``; importlib's module-lock callback
(``_get_module_lock.<locals>.cb``) runs after every import. An exception there cannot propagate:
Python prints "Exception ignored in: <function _get_module_lock.<locals>.cb> ... KeyboardInterrupt"
with a traceback, and goes on importing as if nothing had happened. A Ctrl-C landing while pytest
started (one run in three under load, in tests/hostile) did exactly that.

Two guards, each a certainty rather than a narrower window:

* While pytest starts, SIGINT's handler (``on_sigint``) raises nowhere an exception would be
  swallowed: inside such a callback it leaves the signal to be sent again, and the KeyboardInterrupt
  is raised outside it. At ``pytest_sessionstart`` the plugin puts Python's own handler back, where
  asyncio's runner expects to find it (it installs its own only over that one).
* From then on, the unraisable hook (wrapping pytest's own, which would make it a warning) does the
  same with a KeyboardInterrupt that was swallowed anyway: sent again, raised outside.

"Sent again" is a thread's job (``_resend``), woken through a pipe: the handler and the hook only
write one byte (no lock, no stream; they may run while the main thread holds either), and a signal
the main thread asked for itself would run the handler again at once, still inside the callback.

``PYTEST_MAIN`` (runner/pass_processes.py) runs this file's text before pytest, while SIGINT is
still blocked; it is not imported there (pytest could no longer rewrite the plugin's asserts), so
it is standard library only, and the plugin reaches it through the handler (``session_started``).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, Optional

MARK = "_async_test_interrupts"
_BOOTSTRAP = "<frozen importlib._bootstrap>"
_wake: Dict[str, int] = {}  # the pipe's write end, once started


def _unraisable_context(frame: Optional[FrameType]) -> bool:
    """Is the interrupted code, or code below it on the stack, one Python runs where an exception
    cannot propagate (importlib's module-lock callback, a ``__del__``, weakref's callbacks, our hook)?"""
    while frame is not None:
        code = frame.f_code
        if (code.co_name == "__del__" or (code.co_filename == _BOOTSTRAP and code.co_name == "cb")
                or code.co_name == "_async_test_unraisable" or code.co_filename.endswith("weakref.py")):
            return True
        frame = frame.f_back
    return False


def _send_again() -> None:
    """Ask the thread to send SIGINT to the main thread again (lock-free: one byte into a pipe)."""
    fd = _wake.get("fd")
    if fd is not None:
        try:
            os.write(fd, b"i")
        except OSError:
            pass


def _resend(read: int) -> None:
    while os.read(read, 1):
        time.sleep(0.001)  # the main thread runs on, out of the callback
        _thread.interrupt_main()


def on_sigint(signum: int, frame: Optional[FrameType]) -> None:
    """SIGINT's handler while pytest starts: a KeyboardInterrupt, but never where it would be swallowed."""
    if _unraisable_context(frame):
        _send_again()
        return
    raise KeyboardInterrupt


setattr(on_sigint, MARK, True)


def _wrap_unraisable_hook(previous: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if getattr(previous, MARK, False):
        return previous

    def _async_test_unraisable(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _send_again()  # raised again once the callback that swallowed it has returned
            return
        previous(unraisable)

    setattr(_async_test_unraisable, MARK, True)
    return _async_test_unraisable


def install_for_startup() -> None:
    """In the pytest process, before SIGINT is unblocked (PYTEST_MAIN). A SIGINT the process was
    started without (ignored: nohup, a background job) stays so."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    read, _wake["fd"] = os.pipe()
    threading.Thread(target=_resend, args=(read,), name="async-test-sigint", daemon=True).start()
    sys.unraisablehook = _wrap_unraisable_hook(sys.unraisablehook)
    signal.signal(signal.SIGINT, on_sigint)


def _session_started() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.unraisablehook = _wrap_unraisable_hook(sys.unraisablehook)


def session_started() -> None:
    """pytest and its plugins are configured (``pytest_sessionstart``): Python's own SIGINT handler
    back, and pytest's unraisable hook wrapped. Only in a process PYTEST_MAIN prepared (a plain
    ``pytest`` is left as it is); through the handler, whose module is the text PYTEST_MAIN ran."""
    handler = signal.getsignal(signal.SIGINT)
    if getattr(handler, MARK, False):
        handler.__globals__["_session_started"]()  # type: ignore[union-attr]

