"""The harness's markers and their arguments, checked by binding them to a signature.

pytest accepts any arguments on a marker; a misspelt one (``isolation="databse"``) would
otherwise silently mean the default. pytest-django validates its ``django_db`` marker the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

ISOLATIONS = ("transaction", "database")


@dataclass(frozen=True)
class IntegrationOptions:
    """``@pytest.mark.integration(isolation="transaction", reset_sequences=False)``."""

    isolation: str = "transaction"
    reset_sequences: bool = False

    @classmethod
    def of(cls, marker: Optional[Any]) -> IntegrationOptions:
        """The options of an ``integration`` marker (its defaults when there is none).

        Raises TypeError naming the bad argument and the valid ones.
        """
        if marker is None:
            return cls()
        return _bind(*marker.args, **marker.kwargs)


def _bind(
    *args: Any, isolation: str = "transaction", reset_sequences: bool = False, **unknown: Any
) -> IntegrationOptions:
    if args:
        raise TypeError(
            f"@pytest.mark.integration takes keyword arguments only, got {args!r}. "
            "Valid: isolation='transaction' or 'database', reset_sequences=True."
        )
    if unknown:
        raise TypeError(
            f"@pytest.mark.integration got unknown argument(s) {', '.join(sorted(unknown))}. "
            "Valid: isolation='transaction' or 'database', reset_sequences=True."
        )
    if isolation not in ISOLATIONS:
        raise TypeError(
            f"@pytest.mark.integration(isolation={isolation!r}) is not valid. Valid: isolation='transaction' "
            "(the default: one rolled-back transaction per test) or 'database' (a database of its own)."
        )
    if not isinstance(reset_sequences, bool):
        raise TypeError(f"@pytest.mark.integration(reset_sequences={reset_sequences!r}) must be True or False.")
    return IntegrationOptions(isolation, reset_sequences)
