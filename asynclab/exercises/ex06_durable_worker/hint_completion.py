# Exercise: 06-durable-worker
# hint names, not code: UPDATE jobs SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'queued' END, locked_until = NULL WHERE <fence> | UPDATE jobs SET status = 'done', done_at = now() WHERE <fence>
import asyncio
import json
import os
import logging
import socket


async def enqueue(pool, payload: dict) -> int:
    """Write the job down, before anyone is told it will happen."""
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def heartbeat(pool, fence: tuple) -> None:
    """Keep the lease ahead of the clock while the handler runs."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        await pool.execute("UPDATE jobs SET locked_until = now() + make_interval(secs => $4) WHERE id = $1 AND locked_by = $2 AND attempts = $3", *fence, LEASE_SECONDS)


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    """Claim a job, run it, mark it done; until `stop` is set."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.is_set():
        row = await pool.fetchrow("""UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = now() + make_interval(secs => $1), locked_by = $2 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND locked_until < now()) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, payload, attempts""", LEASE_SECONDS, me)
        if row is None:
            try:
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            continue
        fence = (row['id'], me, row['attempts'])
        beat = asyncio.create_task(heartbeat(pool, fence))
        try: await handler(json.loads(row['payload']))
        except Exception:
            logging.getLogger("jobs").exception("job %s failed", row["id"])
            await pool.execute("UPDATE jobs SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'queued' END, locked_until = NULL WHERE id = $1 AND locked_by = $2 AND attempts = $3", *fence, MAX_ATTEMPTS)
            continue
        finally:
            beat.cancel()
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1 AND locked_by = $2 AND attempts = $3", *fence)
