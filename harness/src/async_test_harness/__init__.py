"""async-test-harness: ephemeral PostgreSQL and isolated async database fixtures for pytest.

The public helpers are imported on first use, so processes that need none of
them (the PostgreSQL supervisor, the container entrypoint) start without
loading SQLAlchemy.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["DatabaseBlockedError", "__version__", "mappings_result", "mock_session", "result", "scalars_result"]

_LAZY = {
    "DatabaseBlockedError": "blocker",
    "mappings_result": "mocks",
    "mock_session": "mocks",
    "result": "mocks",
    "scalars_result": "mocks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'async_test_harness' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
