"""Unit or integration: the rule that splits a suite into its two passes.

Order: an explicit marker wins, then the test's path, then its fixtures (a
test whose fixture closure reaches a database fixture needs the database:
the harness's own, or one the project declares in ``db_fixtures``).
Anything else is a unit test.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Any, Iterable, Optional, Sequence

import pytest

from .. import compat

UNIT = "unit"
INTEGRATION = "integration"

# The harness's own database fixtures. They count by what they are (defined in this package), not by
# name: a project's own ``db_url`` string fixture that overrides ours provides no database.
OWN_DB_FIXTURES = ("async_db_session", "async_engine", "db_url", "db_sync_url", "api_client", "async_test_database")
# Except these: a project fixture that replaces the harness's session or engine is the project's own
# hand-written session or engine (the common ``async_db_session`` with create_all per test), so it
# provides a database whoever defines it. A URL or an app client of the project's may be anything.
DATABASE_BY_OVERRIDE = ("async_db_session", "async_engine")
HARNESS_PACKAGE = "async_test_harness."


@dataclass(frozen=True)
class Classification:
    kind: str
    reason: str


CLASSIFICATION_KEY = pytest.StashKey[Classification]()


@functools.lru_cache(maxsize=4096)
def _relative(path: Path, rootdir: Path) -> str:
    # Cached: every test of a file asks for the same path, and resolve() walks the file system.
    try:
        rel = path.resolve().relative_to(rootdir.resolve())
    except ValueError:
        rel = path
    return "/" + rel.as_posix()


def _is_harness_fixture(fixturedef: Any) -> bool:
    return str(getattr(fixturedef.func, "__module__", "")).startswith(HARNESS_PACKAGE)


def _provides_database(name: str, defs: Optional[Sequence[Any]], declared: AbstractSet[str]) -> bool:
    """Is the fixture the test gets under ``name`` a database one?

    ``defs`` is pytest's override chain for the name, the active one last. The active one
    counts when the user declared the name (``db_fixtures``), replaces the harness's session or
    engine, or is one of the harness's own;
    a fixture that requests the name it overrides (``def db_url(db_url)``) also uses the one
    below it. Fixtures that depend on a database fixture need no rule of their own: pytest's
    fixture closure of the test already lists every fixture they request.
    """
    if name in declared:
        return True
    if name not in OWN_DB_FIXTURES:
        return False
    if name in DATABASE_BY_OVERRIDE or defs is None:  # None: pytest's chain is unknown (compat.fixture_closure)
        return True
    for fixturedef in reversed(defs):
        if _is_harness_fixture(fixturedef):
            return True
        if name not in getattr(fixturedef, "argnames", ()):
            return False
    return False


def database_fixture(item: pytest.Item, declared: AbstractSet[str]) -> Optional[str]:
    """The first fixture in the test's closure that provides a database, if any."""
    name2defs = compat.fixture_closure(item)
    names: Sequence[str] = getattr(item, "fixturenames", ())
    for name in names:
        if (name in declared or name in OWN_DB_FIXTURES) and _provides_database(
                name, name2defs.get(name, ()) if name2defs is not None else None, declared):
            return name
    return None


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
    used = database_fixture(item, frozenset(db_fixtures))
    if used:
        return Classification(INTEGRATION, f"uses database fixture {used!r}")
    return Classification(UNIT, "no database fixture, marker or path")
