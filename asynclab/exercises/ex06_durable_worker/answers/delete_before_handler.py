# expect: job-lost
# Takes the job off the queue (DELETE ... RETURNING) before running it: a crash mid-job loses it.
import asyncio
import json


async def enqueue(pool, payload: dict) -> int:
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1::jsonb) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    while not stop.is_set():
        row = await pool.fetchrow("""
            DELETE FROM jobs
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued'
                          ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, payload""")
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
            continue
        await handler(json.loads(row["payload"]))
