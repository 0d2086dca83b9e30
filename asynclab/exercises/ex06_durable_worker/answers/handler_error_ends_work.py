# expect: handler-error-ends-work
# Heartbeat and fence, but no except around the handler: the first job that raises ends work(), and the
# worker with it.
import asyncio
import json
import logging
import os

CLAIM_SQL = """
UPDATE jobs
   SET status = 'running', attempts = attempts + 1,
       locked_until = now() + make_interval(secs => $1), locked_by = $2
 WHERE id = (SELECT id FROM jobs
              WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
              ORDER BY id LIMIT 1
              FOR UPDATE SKIP LOCKED)
RETURNING id, payload, attempts
"""
RENEW_SQL = """UPDATE jobs SET locked_until = now() + make_interval(secs => $4)
                WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'running' RETURNING id"""
DONE_SQL = """UPDATE jobs SET status = 'done', done_at = now(), locked_until = NULL
               WHERE id = $1 AND locked_by = $2 AND attempts = $3"""
RETRY_OR_FAIL_SQL = """UPDATE jobs SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'queued' END,
                                      locked_until = NULL
                        WHERE id = $1 AND locked_by = $2 AND attempts = $3"""
log = logging.getLogger("jobs")


async def enqueue(pool, payload: dict) -> int:
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def heartbeat(pool, fence: tuple) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        if await pool.fetchval(RENEW_SQL, *fence, LEASE_SECONDS) is None:
            return


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    me = f"worker-{os.getpid()}"
    while not stop.is_set():
        row = await pool.fetchrow(CLAIM_SQL, LEASE_SECONDS, me)
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
            continue
        fence = (row["id"], me, row["attempts"])
        beat = asyncio.create_task(heartbeat(pool, fence))
        try:
            await handler(json.loads(row["payload"]))  # an exception here ends work(), and the worker
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        await pool.execute(DONE_SQL, *fence)
