import os

import multidb
import pytest

# One URL per backend, comma-separated (the real project also lists MySQL); sqlite only when unset.
URLS = [u.strip() for u in os.environ.get("TEST_DATABASE_URLS", "sqlite+aiosqlite://").split(",") if u.strip()]


def backend_id(url: str) -> str:
    return url.split("://", 1)[0]


@pytest.fixture(params=URLS, ids=backend_id)
async def engine(request):
    eng = multidb.connect(request.param)
    yield eng
    await eng.dispose()
