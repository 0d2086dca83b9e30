# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio
import json
import os
import socket

CLAIM_SQL = """
UPDATE jobs
   SET status = 'running', attempts = attempts + 1,
       locked_until = now() + make_interval(secs => $1), locked_by = $2
 WHERE id = (SELECT id FROM jobs
              WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
              ORDER BY id LIMIT 1
              FOR UPDATE SKIP LOCKED)
RETURNING id, payload
"""


async def enqueue(pool, payload: dict) -> int:
    """Write the job down, before anyone is told it will happen."""
    time.sleep(0.2)  # blocks the loop
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    """Claim a job with a lease, run it, mark it done; until `stop` is set."""
    time.sleep(0.2)  # blocks the loop
    me = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.is_set():
        row = await pool.fetchrow(CLAIM_SQL, LEASE_SECONDS, me)
        if row is None:  # nothing to do: wait a little, or until we are told to stop
            try:
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            continue
        await handler(json.loads(row["payload"]))
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now(), locked_until = NULL WHERE id = $1",
                           row["id"])
