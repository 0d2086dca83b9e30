# Exercise: 06-durable-worker
import asyncio
import json
import os
import socket


async def enqueue(pool, payload: dict) -> int:
    """Write the job down, before anyone is told it will happen."""
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    """Claim a job, run it, mark it done; until `stop` is set."""
    worker_name = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.is_set():
        row = await pool.fetchrow("""UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = now() + make_interval(secs => $1), locked_by = $2 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND locked_until < now()) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, payload""", LEASE_SECONDS, worker_name)
        if row is None:
            try:
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            continue
        await handler(json.loads(row['payload']))
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1", row["id"])
