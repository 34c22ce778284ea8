"""``api_client``: call a FastAPI app in-process, on the test's isolated session.

The app's session dependency is overridden to yield the test's
``async_db_session``, so what a request writes is visible to the test and
rolled back afterwards, and no HTTP server is started.
"""

from __future__ import annotations

import importlib.util
from typing import Any, AsyncIterator, List

import pytest
import pytest_asyncio

from ..server.template import SchemaError, load_object
from .state import state_of


def _missing_packages() -> List[str]:
    return [name for name in ("fastapi", "httpx") if importlib.util.find_spec(name) is None]


@pytest_asyncio.fixture
async def api_client(request: pytest.FixtureRequest, async_db_session: Any) -> AsyncIterator[Any]:
    """An ``httpx.AsyncClient`` over ``ASGITransport`` to the configured FastAPI app.

    Needs ``app`` and ``session_dependency`` settings (e.g. ``async_test_app =
    myservice.main:app``, ``async_test_session_dependency =
    myservice.db:get_session``) and the fastapi and httpx packages.
    """
    missing = _missing_packages()
    if missing:
        pytest.fail(
            f"api_client needs {' and '.join(missing)}: pip install 'async-test-harness[fastapi]'.",
            pytrace=False,
        )
    settings = state_of(request.config).settings
    if not settings.app or not settings.session_dependency:  # resolve() allows no app without the other
        pytest.fail(
            "api_client needs the FastAPI app: set async_test_app = 'package.module:app' and "
            "async_test_session_dependency = 'package.module:get_session' (ini, pyproject "
            "[tool.async-test] or ASYNC_TEST_APP / ASYNC_TEST_SESSION_DEPENDENCY).",
            pytrace=False,
        )
    import httpx

    try:
        app = load_object(settings.app, "app")
        dependency = load_object(settings.session_dependency, "session_dependency")
    except SchemaError as exc:
        pytest.fail(str(exc), pytrace=False)
    session = async_db_session

    async def override() -> AsyncIterator[Any]:
        yield session

    previous = app.dependency_overrides.get(dependency)
    app.dependency_overrides[dependency] = override
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        if previous is None:
            app.dependency_overrides.pop(dependency, None)
        else:
            app.dependency_overrides[dependency] = previous
