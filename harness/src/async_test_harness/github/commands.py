"""Workflow commands, written so untrusted text can never become one.

Test names, messages and output come from the code under test. GitHub reads any line of the log
that starts with ``::`` as a command, so: data is escaped (``%``, CR, LF), properties also
(``:`` and ``,``), and raw output is shown between ``::stop-commands::TOKEN`` and ``::TOKEN::``
with a fresh random token nobody can guess in advance.
"""

from __future__ import annotations

import secrets
from typing import Dict, Iterable, Mapping, Optional, TextIO


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, properties: Optional[Mapping[str, object]] = None) -> str:
    props = ""
    if properties:
        parts = [f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None]
        props = " " + ",".join(parts) if parts else ""
    return f"::{name}{props}::{escape_data(message)}"


def write_raw(stream: TextIO, text: str) -> None:
    """Show untrusted text in the log with workflow commands switched off around it."""
    token = secrets.token_hex(16)
    # One write: a fence left open would swallow the annotations that follow it.
    stream.write(f"::stop-commands::{token}\n" + (text if text.endswith("\n") else text + "\n") + f"::{token}::\n")


def output_block(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry; a random delimiter so the value cannot end it early."""
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(12)}"
        if delimiter not in value:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: Optional[str], outputs: Dict[str, str]) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            handle.write(output_block(name, value))


def lines(commands: Iterable[str]) -> str:
    return "".join(c + "\n" for c in commands)
