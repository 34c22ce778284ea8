import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DOCUMENT_STORE_URL"), reason="no document store server")


async def test_round_trip():
    raise AssertionError("runs only with a document store")
