import asyncio

import asyncpg

from pgqueue import Queue


async def test_runs_on_the_hardcoded_postgresql(db_migration, db_url):
    assert db_url in ("postgresql://postgres@localhost/postgres", "postgresql://postgres@postgres/postgres")
    conn = await asyncpg.connect(db_migration)
    try:
        assert "PostgreSQL" in await conn.fetchval("SELECT version()")
        assert await conn.fetchval("SELECT current_setting('port')") == "5432"
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
    finally:
        await conn.close()


async def test_enqueue_then_dequeue_in_order(db_migration):
    conn = await asyncpg.connect(db_migration)
    try:
        queue = Queue(conn)
        first = await queue.enqueue({"n": 1})
        await queue.enqueue({"n": 2})
        job = await queue.dequeue()
        assert (job.id, job.payload, job.attempts) == (first, {"n": 1}, 1)
    finally:
        await conn.close()


async def test_dequeue_on_an_empty_queue(db_migration):
    conn = await asyncpg.connect(db_migration)
    try:
        assert await Queue(conn, "empty").dequeue() is None
    finally:
        await conn.close()


async def test_two_workers_never_get_the_same_job(db_migration):
    setup = await asyncpg.connect(db_migration)
    workers = [await asyncpg.connect(db_migration) for _ in range(2)]
    try:
        for n in range(4):
            await Queue(setup).enqueue({"n": n})

        async def drain(conn):
            taken = []
            async with conn.transaction():
                while (job := await Queue(conn).dequeue()) is not None and len(taken) < 2:
                    taken.append(job.payload["n"])
            return taken

        a, b = await asyncio.gather(*(drain(w) for w in workers))
        assert sorted(a + b) == sorted(set(a + b))
    finally:
        for conn in [setup, *workers]:
            await conn.close()


async def test_a_job_dies_after_three_failures(db_migration):
    conn = await asyncpg.connect(db_migration)
    try:
        queue = Queue(conn)
        await queue.enqueue({"boom": True})
        statuses = []
        for _ in range(3):
            statuses.append(await queue.fail(await queue.dequeue()))
        assert statuses == ["queued", "queued", "dead"]
        assert await queue.dequeue() is None
        assert await conn.fetchval("SELECT count(*) FROM job_events WHERE event LIKE 'failed:%'") == 3
    finally:
        await conn.close()


async def test_the_migration_starts_from_an_empty_schema(db_migration):
    conn = await asyncpg.connect(db_migration)
    try:
        await conn.execute("CREATE TABLE scratch (id int)")
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row["tablename"] for row in rows}
        assert tables == {"jobs", "job_events", "scratch"}
    finally:
        await conn.close()
