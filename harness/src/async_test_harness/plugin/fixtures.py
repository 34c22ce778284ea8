"""The public fixtures.  A project's own fixture of the same name overrides any of these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Optional

import pytest
import pytest_asyncio

from .. import compat
from ..engine import connection_cache, isolation, query_count, relay
from ..server.address import DatabaseAddress, engine_url_for
from . import current_test, event_loops, queries
from .markers import IntegrationOptions
from .mocks import BoundaryPatcher, mock_session
from .state import DatabaseUnavailable, state_of

if TYPE_CHECKING:  # imported where used: a unit-only run never loads SQLAlchemy's engine
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


_OPTIONS_KEY = pytest.StashKey[IntegrationOptions]()


def integration_options(item: Any) -> IntegrationOptions:
    """The test's ``@pytest.mark.integration(...)`` arguments, checked. Looked up once per test
    (a marker lookup walks the node chain, and three fixtures ask); a misspelt argument fails the
    test instead of silently meaning the default."""
    options: Optional[IntegrationOptions] = item.stash.get(_OPTIONS_KEY, None)
    if options is None:
        try:
            options = IntegrationOptions.of(item.get_closest_marker("integration"))
        except TypeError as exc:
            pytest.fail(f"{item.nodeid}: {exc}", pytrace=False)
        item.stash[_OPTIONS_KEY] = options
    return options


def wants_own_database(item: Any) -> bool:
    """Marked ``integration(isolation="database")``?"""
    return integration_options(item).isolation == "database"


def _loop_ends_with_test(item: Any) -> bool:
    """A function-scoped loop dies with the test: close its connection now, inside it.

    (pytest-asyncio < 0.25 closes such loops without shutting down async
    generators, so the loop-lifetime guard in connection_cache would not run.)
    """
    return event_loops.test_loop_scope(item, item.config) == "function"


@pytest.fixture
def async_test_database() -> Iterator[DatabaseAddress]:
    """The address of the database this test uses.

    Normally this process's database, cloned once from the template.  A test
    marked ``@pytest.mark.integration(isolation="database")`` gets a database of
    its own, cloned from the template for it and dropped afterwards.
    """
    item = current_test.item()
    state = state_of(item.config)
    try:
        address = state.own_database() if wants_own_database(item) else state.ensure()
    except DatabaseUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    if address is state.address:
        yield address
        return
    try:
        yield address
    finally:
        state.drop_own_database(address)


def _test_database() -> DatabaseAddress:
    """What ``async_test_database`` gives, without a fixture of its own in the common case.

    ``db_url`` runs for every integration test; a fixture between it and the address cost
    about 0.03 ms a test. Only a test with a database of its own needs the fixture (it drops
    that database afterwards), and then ``db_url`` and ``db_sync_url`` share it.
    """
    item = current_test.item()
    if wants_own_database(item):
        address: DatabaseAddress = compat.request_of(item).getfixturevalue("async_test_database")
        return address
    try:
        return state_of(item.config).ensure()
    except DatabaseUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def _db_url_function() -> str:
    """The test database as an asyncpg URL (``postgresql+asyncpg://...``)."""
    return _test_database().async_url


db_url = pytest.fixture(_db_url_function, name="db_url")


@pytest.fixture
def db_sync_url() -> str:
    """The test database as a plain ``postgresql://`` URL (psycopg2, libpq, alembic)."""
    return _test_database().sync_url


@pytest_asyncio.fixture
async def async_engine(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[AsyncEngine]:
    """An ``AsyncEngine`` for the test database, shared by all tests.

    It uses ``NullPool`` (each connection is opened in the loop that uses it), so one engine
    serves every event loop. Commits made through it are real: use ``async_db_session`` for
    isolation.
    """
    if wants_own_database(request.node):
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        engine = create_async_engine(_engine_url(request.node, db_url), poolclass=NullPool)
        query_count.watch(engine)
        try:
            yield engine
        finally:
            queries.record(request.node)
            await engine.dispose()
        return
    resources = await connection_cache.for_running_loop()
    yield resources.engine(_engine_url(request.node, db_url))
    queries.record(request.node)
    if _loop_ends_with_test(request.node):
        await resources.aclose()


async def _isolated_session(db_url: str, loop_scope: Optional[str] = None) -> AsyncIterator[AsyncSession]:
    """A real ``AsyncSession`` whose changes vanish after the test, even committed ones.

    The session joins an outer transaction with
    ``join_transaction_mode="create_savepoint"``: the code under test may call
    ``commit()`` and ``rollback()`` (they act on a SAVEPOINT), and the outer
    transaction is rolled back at teardown.  One connection per event loop is
    reused (function-scoped loops share one through ``engine.relay``), so a test
    costs one ``ROLLBACK; BEGIN; SAVEPOINT`` message (see ``isolation``).  Tests marked
    ``@pytest.mark.integration(isolation="database")`` get a plain session on a
    database of their own instead, where commits are real.
    """
    from sqlalchemy.ext.asyncio import AsyncSession

    item = current_test.item()
    url = _engine_url(item, db_url)
    if wants_own_database(item):
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        engine = create_async_engine(url, poolclass=NullPool)
        query_count.watch(engine)
        session = AsyncSession(engine, expire_on_commit=False)
        try:
            yield session
        finally:
            queries.record(item)
            await session.close()
            await engine.dispose()
        return
    scope = loop_scope or event_loops.test_loop_scope(item, item.config)
    resources = await relay.connections_for(scope)
    # The bridge's connection outlives the test's loop on its home loop: kept, as with a session loop.
    loop_ends_with_test = scope == "function" and resources is not relay.bridge()
    connection = await isolation.connection_for_test(resources, url)
    outer = await isolation.begin_test(connection)
    if integration_options(item).reset_sequences:
        await isolation.reset_sequences(connection)
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        queries.record(item)
        try:
            await isolation.end_test(connection, outer, session, keep=not loop_ends_with_test, loop_scope=scope)
        except isolation.OuterTransactionEnded as exc:
            await resources.discard(url)
            _recreate_if_ours(item, db_url)
            pytest.fail(str(exc), pytrace=False)
        except Exception:
            lost = isolation.is_lost(connection)
            await resources.discard(url)
            if not lost:  # a lost connection took the test's transaction with it: nothing to report
                raise
        if loop_ends_with_test:
            # The connection dies with the loop: aborting it discards the transaction, no ROLLBACK needed.
            await resources.aclose()


def _engine_url(item: Any, db_url: str) -> str:
    """The URL the harness's engine uses for ``db_url``: with the driver options of our server.

    ``db_url`` itself stays plain (projects rebuild URLs with string operations); the address
    knows what the server needs (no SSL on ours: see server/address.py).
    """
    address = state_of(item.config).address
    if address is None:
        return db_url
    if db_url == address.async_url:  # the common case, first: this runs for every test
        return address.engine_url
    return engine_url_for(db_url, address)


def _recreate_if_ours(item: Any, db_url: str) -> None:
    """After a test committed for real: this process's database again, fresh from the template (a
    project's own ``db_url`` points elsewhere, which is not ours to drop)."""
    state = state_of(item.config)
    if state.address is not None and db_url == state.address.async_url:
        state.recreate_database()


_DB_URL_OVERRIDDEN = pytest.StashKey[bool]()


def _db_url_for(item: Any) -> str:
    """``db_url`` as the test sees it, without making it a fixture of ``async_db_session``.

    A fixture costs ~0.03 ms a test, and in the common case db_url is ours and only formats
    the address. A project's own ``db_url`` (conftest, module or class) still wins: it is
    looked up once per module or class (where overrides live) and then requested.
    """
    parent = item.parent
    overridden = parent.stash.get(_DB_URL_OVERRIDDEN, None)
    if overridden is None:
        defs = compat.fixture_defs(item, "db_url")
        overridden = parent.stash[_DB_URL_OVERRIDDEN] = not defs or defs[-1].func is not _db_url_function
    if overridden:
        url: str = compat.request_of(item).getfixturevalue("db_url")
        return url
    return _test_database().async_url


def _driven_on_the_test_loop() -> Iterator[AsyncSession]:
    # A plain fixture that drives the async generator on the test's own loop: pytest-asyncio's
    # wrapping of an async fixture (a task, a context copy and SIGINT handler swaps, for setup and
    # again for teardown) costs about as much as the test's whole transaction.
    item = current_test.item()
    scope = event_loops.test_loop_scope(item, item.config)
    yield from event_loops.drive(item, _isolated_session(_db_url_for(item), scope), scope)


_driven_on_the_test_loop.__doc__ = _isolated_session.__doc__
async_db_session: Any
# pytest-asyncio >= 1.1 keeps each loop in a fixture-held runner the plain fixture can drive.
if event_loops.FIXTURES_FOLLOW_TEST_LOOP:
    async_db_session = pytest.fixture(_driven_on_the_test_loop, name="async_db_session")
else:
    async_db_session = pytest_asyncio.fixture(_isolated_session, name="async_db_session")


@pytest.fixture
def mock_db() -> Any:
    """A spec'd mock ``AsyncSession`` for unit tests: async methods are ``AsyncMock``.

    See ``async_test_harness.mocks.mock_session``; pair it with
    ``async_test_harness.result(...)`` for realistic ``execute`` results, and
    read ``mock_db.executed_sql()`` to assert on the SQL.
    """
    return mock_session()


@pytest.fixture
def patch_boundary() -> Iterator[BoundaryPatcher]:
    """Patch a collaborator with autospec; async methods become ``AsyncMock``.

    ``users = patch_boundary("app.services.auth.UserService", get_by_email=user)``
    returns the instance the service will construct; undone after the test.
    """
    patcher = BoundaryPatcher()
    try:
        yield patcher
    finally:
        patcher.stop()
