"""The phase lines the runner prints, and the group titles the GitHub Action shows for them.

The container's output is untrusted (tests print what they like), so the action never takes a
group's title from it: it recognises a phase line, looks its name up in ``GROUPS`` and prints
the title found there (github/action.py). The runner and the container entrypoint print these
lines with :func:`line`; one table for both sides keeps them from drifting apart. Standard
library only: the action imports it on the runner, with nothing installed.
"""

from __future__ import annotations

import re
from typing import Dict, Optional

INSTALL = "installing dependencies"
SETTINGS = "async-test run"
UNIT = "unit pass"
INTEGRATION = "integration pass"
SESSION = "unit and integration tests (one pytest session)"
INTEGRATION_AGAIN = "integration pass (after the session ended early)"
UNIT_AGAIN = "unit pass (after the session ended early)"
UNIT_OWN = "unit pass (a process of its own)"
UNIT_LOG = "unit pass (log)"
INTEGRATION_LOG = "integration pass (log)"
POSTGRES = "PostgreSQL"
COVERAGE = "coverage"
SUMMARY = "async-test summary"

# phase name -> the action's group title; None: no group (what follows stays visible without a click)
GROUPS: Dict[str, Optional[str]] = {
    INSTALL: "async-test: install the project's dependencies",
    SETTINGS: "async-test: run settings",
    UNIT: "async-test: unit pass",
    INTEGRATION: "async-test: integration pass",
    SESSION: "async-test: unit and integration tests (one pytest session)",
    INTEGRATION_AGAIN: "async-test: integration pass (after the session ended early)",
    UNIT_AGAIN: "async-test: unit pass (after the session ended early)",
    UNIT_OWN: "async-test: unit pass (a process of its own)",
    UNIT_LOG: "async-test: unit pass (log)",
    INTEGRATION_LOG: "async-test: integration pass (log)",
    POSTGRES: "async-test: PostgreSQL",
    COVERAGE: "async-test: coverage reports",
    SUMMARY: None,
}

RULE = "─"
# A phase line: "── NAME ────", possibly coloured (FORCE_COLOR): SGR codes around it are ignored.
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_PHASE = re.compile(rf"{RULE}{RULE} (?P<name>.+?) {RULE}{{4,}}")


def line(name: str) -> str:
    """The phase line for ``name`` (one of the constants above), without its newline."""
    return f"{RULE}{RULE} {name} " + RULE * max(4, 66 - len(name))


def may_become_phase(partial: str) -> bool:
    """Whether the start of a line could still turn into a phase line (the reader then waits for the
    rest); coloured progress dots (``\x1b[32m.``) cannot, and are shown as they come."""
    plain = re.sub(r"\x1b(\[[0-9;]*)?$", "", _SGR.sub("", partial))  # an escape still arriving
    start = f"{RULE}{RULE} "
    return plain.startswith(start) or start.startswith(plain)


def phase_of(text: str) -> Optional[str]:
    """The phase a line of output announces (a key of GROUPS), or None.

    Only a whole line that is nothing but a phase line counts; its name must be one of ours.
    """
    plain = _SGR.sub("", text).rstrip("\r\n")
    found = _PHASE.fullmatch(plain)
    if found is None or found.group("name") not in GROUPS:
        return None
    return found.group("name")
