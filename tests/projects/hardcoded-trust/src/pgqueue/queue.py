import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

SCHEMA = """
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    attempts int NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'queued'
);
CREATE TABLE job_events (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES jobs (id),
    event text NOT NULL
);
"""

MAX_ATTEMPTS = 3


@dataclass
class Job:
    id: int
    payload: Dict[str, Any]
    attempts: int


class Queue:
    """Works on an asyncpg connection (or anything with fetchval/fetchrow/execute)."""

    def __init__(self, conn: Any, name: str = "default") -> None:
        self.conn = conn
        self.name = name

    async def enqueue(self, payload: Dict[str, Any]) -> int:
        job_id = await self.conn.fetchval(
            "INSERT INTO jobs (queue, payload) VALUES ($1, $2::jsonb) RETURNING id", self.name, json.dumps(payload)
        )
        await self.conn.execute("INSERT INTO job_events (job_id, event) VALUES ($1, 'enqueued')", job_id)
        return int(job_id)

    async def dequeue(self) -> Optional[Job]:
        row = await self.conn.fetchrow(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1 WHERE id = ("
            " SELECT id FROM jobs WHERE queue = $1 AND status = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1"
            ") RETURNING id, payload, attempts",
            self.name,
        )
        if row is None:
            return None
        return Job(id=row["id"], payload=json.loads(row["payload"]), attempts=row["attempts"])

    async def fail(self, job: Job) -> str:
        status = "dead" if job.attempts >= MAX_ATTEMPTS else "queued"
        await self.conn.execute("UPDATE jobs SET status = $2 WHERE id = $1", job.id, status)
        await self.conn.execute("INSERT INTO job_events (job_id, event) VALUES ($1, $2)", job.id, f"failed:{status}")
        return status

    async def complete(self, job: Job) -> None:
        await self.conn.execute("UPDATE jobs SET status = 'done' WHERE id = $1", job.id)
