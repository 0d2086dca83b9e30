# expect: job-lost
# Claims with SKIP LOCKED but without a lease: a job whose worker dies stays 'running' forever.
import asyncio
import json


async def enqueue(pool, payload: dict) -> int:
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    while not stop.is_set():
        row = await pool.fetchrow("""
            UPDATE jobs SET status = 'running', attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued'
                          ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, payload""")
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
            continue
        await handler(json.loads(row["payload"]))
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1", row["id"])
