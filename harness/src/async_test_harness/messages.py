"""How a multi-line message reads on one line: the exit reason, an annotation's title, a table cell.

Standard library only: the runner and the GitHub report (which runs on the runner machine with
nothing but the standard library) both use it.
"""

from __future__ import annotations

import re

_LEAD_IN = re.compile(r":\s*$")
_CAUSE = re.compile(r"\b(\w*Error|\w*Exception|FATAL|PANIC|ERROR)\b")


def one_line(message: str) -> str:
    """A multi-line message as one line that keeps its cause.

    Messages such as "'alembic upgrade head' with alembic.ini failed (exit 1). Last lines:" put the
    cause on the last lines; their first line alone, as the exit reason used to be, ends with
    "Last lines:" and says nothing. The cause is the last line that names an error (a Python
    exception, a PostgreSQL FATAL), else the last line.
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    first, rest = lines[0], lines[1:]
    if not rest or not _LEAD_IN.search(first):
        return first
    cause = next((line for line in reversed(rest) if _CAUSE.search(line)), rest[-1])
    return f"{first} {cause}"
