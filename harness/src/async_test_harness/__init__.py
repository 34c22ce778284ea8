"""async-test-harness: ephemeral PostgreSQL and isolated async database fixtures for pytest.

The layout follows the processes and boundaries (docs/architecture.md has a line per module):

* ``server/``  PostgreSQL: binaries, the supervised server, databases, the template (no pytest)
* ``engine/``  the per-test transaction: connections per loop, the loop relay, isolation (no pytest)
* ``plugin/``  the pytest plugin: hooks, fixtures, classification, blocking, events
* ``runner/``  ``async-test run``: the passes, coverage, the results folder, the container entrypoint
* ``summary/`` summary.json, read by everything that reports (standard library only)
* ``github/``  reporting to GitHub, outside the container (standard library only)
* ``cli``, and the shared leaves ``settings``, ``compat``, ``masking``, ``messages``, ``phases``

tests/unit/test_layout.py enforces which package may import which.

The public helpers are imported on first use, so processes that need none of
them (the PostgreSQL supervisor, the container entrypoint) start without
loading SQLAlchemy.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["DatabaseBlockedError", "__version__", "mappings_result", "mock_session", "result", "scalars_result"]

_LAZY = {
    "DatabaseBlockedError": "plugin.blocker",
    "mappings_result": "plugin.mocks",
    "mock_session": "plugin.mocks",
    "result": "plugin.mocks",
    "scalars_result": "plugin.mocks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'async_test_harness' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
