# expect: pass
# FOR UPDATE without SKIP LOCKED, but in the one-statement claim: a second worker waits only for the
# first one's claim statement (a millisecond), then PostgreSQL re-checks the row, sees it 'running', and
# moves to the next one. No job is taken twice; under heavy contention workers queue on each other's
# claims, which SKIP LOCKED avoids. The check cannot (and should not) fail this one.
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
                   locked_until = now() + make_interval(secs => $1), locked_by = $2
             WHERE id = (SELECT id FROM jobs
                          WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
                          ORDER BY id LIMIT 1 FOR UPDATE)
            RETURNING id, payload""", LEASE_SECONDS, me)
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
            continue
        await handler(json.loads(row["payload"]))
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1", row["id"])
