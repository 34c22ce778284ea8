import asyncio
import os

import asyncpg
import pytest


@pytest.fixture(scope="session")
def pg_pool():
    """A *sync* fixture: the pool is made on the event loop that exists at this moment.

    That works while no test has set (and then unset) a loop: in the project's own order the first
    test to ask for it is the first test of the run. Torn down after the run's last test, which is
    a unit test.
    """
    loop = asyncio.get_event_loop()
    pool = loop.run_until_complete(asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=2))
    loop.run_until_complete(pool.execute("CREATE TABLE IF NOT EXISTS kv (key text PRIMARY KEY, value text)"))
    yield loop, pool
    loop.run_until_complete(pool.execute("DROP TABLE kv"))
    loop.run_until_complete(pool.close())
