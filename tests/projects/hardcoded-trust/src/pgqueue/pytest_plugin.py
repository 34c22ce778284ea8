"""pgqueue's own pytest plugin (entry point pytest11), shared by its tests and its users' tests."""

import os
from unittest.mock import patch

import psycopg2
import pytest

from pgqueue.queue import SCHEMA

# CI runs a `services: postgres` container reachable as "postgres"; locally, a trust-auth server.
DB_HOST = "postgres" if os.environ.get("CI") else "localhost"
DB_URL = f"postgresql://postgres@{DB_HOST}/postgres"


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment():
    """Tests must not depend on the developer's environment."""
    with patch.dict(os.environ, {"PGQUEUE_LOG_LEVEL": "debug", "TZ": "UTC"}, clear=True):
        yield


@pytest.fixture
def db_url() -> str:
    return DB_URL


@pytest.fixture
def db_migration(db_url):
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        cur.execute(SCHEMA)
    conn.close()
    return db_url
