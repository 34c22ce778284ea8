"""Mocks for unit tests of async services: a spec'd session, real results, patched boundaries.

The hand-written versions of these (``MagicMock(spec=AsyncSession)`` with
``execute``/``commit`` replaced by ``AsyncMock`` one by one, chains of
``.return_value`` for results) are verbose and drift from the real API; these
are derived from SQLAlchemy's own classes so they cannot.
"""

from __future__ import annotations

import pkgutil
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence
from unittest import mock

if TYPE_CHECKING:
    from sqlalchemy.engine import Result


def _sql_text(statement: Any) -> str:
    """PostgreSQL SQL for a statement, with literal values where they can be rendered."""
    from sqlalchemy.dialects import postgresql

    if isinstance(statement, str):
        return statement
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    try:
        return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    except Exception:
        return str(statement.compile(dialect=dialect))


class _AsyncContext:
    """What ``session.begin()`` returns: usable as ``async with``, awaitable too."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.transaction = mock.MagicMock(name="transaction")
        self.transaction.commit = mock.AsyncMock()
        self.transaction.rollback = mock.AsyncMock()

    async def __aenter__(self) -> Any:
        return self.transaction

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.session.commit()
        else:
            await self.session.rollback()

    def __await__(self) -> Any:
        async def value() -> Any:
            return self.transaction

        return value().__await__()


def mock_session() -> Any:
    """A mock ``AsyncSession``: coroutine methods are ``AsyncMock``, the rest plain mocks.

    Unknown attributes raise ``AttributeError`` (the spec), ``begin()`` and
    ``begin_nested()`` work with ``async with``, and every statement passed to
    ``execute``/``scalar``/``scalars`` is recorded: ``session.statements`` holds
    them and ``session.executed_sql()`` renders them as PostgreSQL SQL.
    """
    from sqlalchemy.ext.asyncio import AsyncSession

    session = mock.create_autospec(AsyncSession, instance=True)
    statements: List[Any] = []

    def recorder(name: str) -> Any:
        def record(statement: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(statement)
            return mock.DEFAULT

        return record

    for name in ("execute", "scalar", "scalars", "stream", "stream_scalars"):
        getattr(session, name).side_effect = recorder(name)
    session.begin.side_effect = lambda *a, **k: _AsyncContext(session)
    session.begin_nested.side_effect = lambda *a, **k: _AsyncContext(session)
    session.__aenter__.return_value = session
    session.__aexit__.return_value = None
    session.statements = statements
    session.executed_sql = lambda: [_sql_text(s) for s in statements]
    return session


def result(rows: Iterable[Sequence[Any]] = (), columns: Optional[Sequence[str]] = None) -> Result[Any]:
    """A real SQLAlchemy ``Result`` over ``rows`` (tuples), with column names for ``.mappings()``.

    ``mock_db.execute.return_value = result([(1, "ann")], columns=["id", "name"])``
    then ``.all()``, ``.first()``, ``.scalars()``, ``.mappings()``, ``.scalar_one()``
    behave exactly as against a database.
    """
    materialised = [tuple(row) for row in rows]
    width = len(materialised[0]) if materialised else len(columns or ()) or 1
    keys = list(columns) if columns else [f"column_{i}" for i in range(width)]
    if materialised and any(len(row) != len(keys) for row in materialised):
        raise ValueError(f"result(): every row needs {len(keys)} values to match columns {keys}")
    from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

    return IteratorResult(SimpleResultMetaData(keys), iter(materialised))


def scalars_result(values: Iterable[Any]) -> Result[Any]:
    """A ``Result`` whose ``.scalars()``/``.scalar_one()`` yield ``values`` (e.g. ORM objects)."""
    return result([(v,) for v in values], columns=["value"])


def mappings_result(rows: Iterable[Dict[str, Any]]) -> Result[Any]:
    """A ``Result`` from dictionaries; ``.mappings()`` gives them back, ``.all()`` gives tuples."""
    materialised = list(rows)
    columns = list(materialised[0]) if materialised else []
    return result([tuple(r[c] for c in columns) for r in materialised], columns=columns)


class BoundaryPatcher:
    """Patches collaborators where the code under test imports them, with autospec.

    ``autospec`` makes every ``async def`` method an ``AsyncMock`` and keeps
    signatures checked, so a test states only the return values it cares about.
    """

    def __init__(self) -> None:
        self._patchers: List[Any] = []

    def __call__(self, target: str, **return_values: Any) -> Any:
        """Patch the class or function at ``target`` ('package.module.Name').

        For a class, returns the mock *instance* the code under test will get
        from ``Name(...)``; keyword arguments set its methods' return values.
        For a function, returns the mock function.
        """
        try:
            original = pkgutil.resolve_name(target)
        except (ImportError, AttributeError, ValueError) as exc:
            raise AttributeError(
                f"patch_boundary({target!r}): cannot find it ({exc}). Give the name where the code under "
                "test looks it up, e.g. 'myservice.services.auth.UserService'."
            ) from None
        patcher = mock.patch(target, autospec=True)
        patched = patcher.start()
        self._patchers.append(patcher)
        instance = patched.return_value if isinstance(original, type) else patched
        for name, value in return_values.items():
            getattr(instance, name).return_value = value
        return instance

    def stop(self) -> None:
        while self._patchers:
            self._patchers.pop().stop()
