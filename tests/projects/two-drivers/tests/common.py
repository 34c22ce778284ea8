import os

from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

sync_engine = create_engine(os.environ.get("TEST_DATABASE_URI_SYNC", "sqlite:///test.db"))
async_engine = create_async_engine(os.environ.get("TEST_DATABASE_URI_ASYNC", "sqlite+aiosqlite:///test_async.db"))
