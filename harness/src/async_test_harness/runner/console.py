"""The runner's console: plain text for CI logs, colour when asked or on a terminal, paths as the user sees them.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

from .. import phases
from .results_folder import clean_text


def colour_asked() -> Optional[bool]:
    """ASYNC_TEST_COLOR (the action sets yes: GitHub's log shows colours, though written to a pipe),
    then FORCE_COLOR; NO_COLOR wins. None: not asked either way (a terminal decides)."""
    if os.environ.get("NO_COLOR"):
        return False
    asked = os.environ.get("ASYNC_TEST_COLOR", "").strip().lower()
    if asked in ("yes", "no"):
        return asked == "yes"
    return True if os.environ.get("FORCE_COLOR") else None


def colour_wanted(stream: Any) -> bool:
    asked = colour_asked()
    return asked if asked is not None else bool(hasattr(stream, "isatty") and stream.isatty())


def shown(path: Any) -> str:
    """A path as the user sees it: under ``docker run`` the runner sees the repository at /workspace
    (ASYNC_TEST_WORKSPACE), the user at ASYNC_TEST_HOST_WORKSPACE (the action sets it to
    GITHUB_WORKSPACE; docs/container.md tells docker run users to pass "$PWD"). Only the runner's own
    messages use it; summary.json and the tests' output keep the paths the run saw. In the image
    without it (a plain ``docker run``, where the host path is unknown), the path is shown from the
    mounted folder, ``<mounted folder>/backend/.async-test/summary.md``: a newcomer read
    ``/workspace/...`` and looked for a folder their machine does not have."""
    text = str(path)
    host = os.environ.get("ASYNC_TEST_HOST_WORKSPACE", "").rstrip("/")
    mount = (os.environ.get("ASYNC_TEST_WORKSPACE") or "/workspace").rstrip("/")
    if mount and (text == mount or text.startswith(mount + "/")):
        if host:
            return host + text[len(mount):]
        if os.environ.get(IN_IMAGE):
            return MOUNTED + text[len(mount):]
    return text


IN_IMAGE = "_ASYNC_TEST_IN_IMAGE"  # set by the image's entrypoint (container.py) for the runner it starts
MOUNTED = "<mounted folder>"


class Console:
    """Plain text for CI logs; a little emphasis on a terminal, or in a log that asks for colour."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = colour_wanted(self.stream)

    def line(self, text: str = "", style: str = "") -> None:
        codes = {"bold": "1", "red": "1;31", "green": "1;32", "yellow": "1;33", "dim": "2"}
        if self.tty and style in codes:
            text = f"\033[{codes[style]}m{text}\033[0m"
        self.write(text + "\n")

    def write(self, text: str) -> None:
        """Write any text: a lone surrogate or a character the console's encoding lacks is escaped.

        Test output and ids reach the console (a failure's reason, a pass's log under --parallel);
        one undecodable byte in them used to end the run with UnicodeEncodeError.
        """
        text = clean_text(text)
        try:
            self.stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        self.stream.flush()

    def rule(self, phase: str) -> None:
        """A phase line (phases.py): the action makes each one a collapsible group on GitHub."""
        self.line(phases.line(phase), "bold")

    def elapsed(self, what: str, seconds: float) -> None:
        """The line that ends a phase, with its time: progress in a log that shows no clock."""
        self.line(f"async-test: {what} in {seconds:.1f}s", "dim")

