import json
import os
from unittest.mock import AsyncMock

from pgqueue import Queue
from pgqueue.queue import Job


async def test_enqueue_sends_json_and_records_an_event():
    conn = AsyncMock()
    conn.fetchval.return_value = 41
    assert await Queue(conn, "mail").enqueue({"to": "ada"}) == 41
    args = conn.fetchval.await_args.args
    assert args[1:] == ("mail", json.dumps({"to": "ada"}))
    conn.execute.assert_awaited_once()


async def test_fail_requeues_until_the_last_attempt():
    conn = AsyncMock()
    queue = Queue(conn)
    assert await queue.fail(Job(id=1, payload={}, attempts=1)) == "queued"
    assert await queue.fail(Job(id=1, payload={}, attempts=3)) == "dead"
    # The plugin's session fixture wiped the environment: no PG* variable reaches the tests.
    assert os.environ["TZ"] == "UTC" and os.environ["PGQUEUE_LOG_LEVEL"] == "debug"
    assert not {"PGHOST", "PGPORT", "PGPASSWORD", "POSTGRES_HOST", "DATABASE_URL"} & set(os.environ)
