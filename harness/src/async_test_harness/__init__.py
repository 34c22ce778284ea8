"""async-test-harness: ephemeral PostgreSQL and isolated async database fixtures for pytest."""

from .blocker import DatabaseBlockedError
from .mocks import mappings_result, mock_session, result, scalars_result

__version__ = "0.1.0"

__all__ = ["DatabaseBlockedError", "__version__", "mappings_result", "mock_session", "result", "scalars_result"]
