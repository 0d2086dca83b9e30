# expect: lease-ignored
# A lease of an hour, hard-coded: the dead worker's job would come back, but far too late.
import asyncio
import json
import os


async def enqueue(pool, payload: dict) -> int:
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    me = f"worker-{os.getpid()}"
    while not stop.is_set():
        row = await pool.fetchrow("""
            UPDATE jobs SET status = 'running', attempts = attempts + 1,
                   locked_until = now() + interval '1 hour', locked_by = $1
             WHERE id = (SELECT id FROM jobs
                          WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
                          ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, payload""", me)
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
            continue
        await handler(json.loads(row["payload"]))
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1", row["id"])
