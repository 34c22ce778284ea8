"""Unit or integration: the rule that splits a suite into its two passes.

Order: an explicit marker wins, then the test's path, then its fixtures (a
test whose fixture closure reaches a database fixture needs the database).
Anything else is a unit test.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pytest

UNIT = "unit"
INTEGRATION = "integration"

# The harness's own database fixtures; always count, whatever is configured.
OWN_DB_FIXTURES = ("async_db_session", "async_engine", "db_url", "db_sync_url", "api_client", "fresh_database")


@dataclass(frozen=True)
class Classification:
    kind: str
    reason: str


@functools.lru_cache(maxsize=4096)
def _relative(path: Path, rootdir: Path) -> str:
    # Cached: every test of a file asks for the same path, and resolve() walks the file system.
    try:
        rel = path.resolve().relative_to(rootdir.resolve())
    except ValueError:
        rel = path
    return "/" + rel.as_posix()


def classify(
    item: pytest.Item,
    rootdir: Path,
    unit_paths: Sequence[str],
    integration_paths: Sequence[str],
    db_fixtures: Iterable[str],
) -> Classification:
    has_unit = item.get_closest_marker(UNIT) is not None
    has_integration = item.get_closest_marker(INTEGRATION) is not None
    if has_unit and not has_integration:
        return Classification(UNIT, "marker @pytest.mark.unit")
    if has_integration and not has_unit:
        return Classification(INTEGRATION, "marker @pytest.mark.integration")
    rel = _relative(Path(str(item.path)), rootdir)
    for pattern in integration_paths:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, "/" + pattern.lstrip("/")):
            return Classification(INTEGRATION, f"path matches {pattern!r}")
    for pattern in unit_paths:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, "/" + pattern.lstrip("/")):
            return Classification(UNIT, f"path matches {pattern!r}")
    names = set(db_fixtures) | set(OWN_DB_FIXTURES)
    used = [name for name in getattr(item, "fixturenames", ()) if name in names]
    if used:
        return Classification(INTEGRATION, f"uses fixture {used[0]!r}")
    return Classification(UNIT, "no database fixture, marker or path")
