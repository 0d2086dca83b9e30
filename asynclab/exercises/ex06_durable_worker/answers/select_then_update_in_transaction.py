# expect: lease-not-renewed
# SELECT ... FOR UPDATE SKIP LOCKED and the lease UPDATE in one short transaction; the handler runs
# outside it, and a finished job is deleted. Right, until a handler outlives the lease: nothing renews it,
# so another worker claims the job while it still runs.
import asyncio
import json
import os


async def enqueue(pool, payload: dict) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("INSERT INTO jobs (payload) VALUES ($1::jsonb) RETURNING id", json.dumps(payload))


async def _claim(pool, me: str):
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await conn.fetchrow("""
                SELECT id, payload FROM jobs
                 WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
                 ORDER BY id LIMIT 1
                 FOR UPDATE SKIP LOCKED""")
            if row is not None:
                await conn.execute("""
                    UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $2,
                           locked_until = now() + $3 * interval '1 second'
                     WHERE id = $1""", row["id"], me, LEASE_SECONDS)
            return row


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    me = f"{os.uname().nodename if hasattr(os, 'uname') else 'host'}:{os.getpid()}"
    while not stop.is_set():
        row = await _claim(pool, me)
        if row is None:
            try:
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
            continue
        await handler(json.loads(row["payload"]))
        await pool.execute("DELETE FROM jobs WHERE id = $1", row["id"])
