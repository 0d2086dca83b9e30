# expect: pass
# Another style: the row lock of a transaction held for the whole job is the lease. When a worker dies,
# PostgreSQL ends its session and releases the lock, so the job is free again at once; SKIP LOCKED lets the
# other worker pass it by meanwhile. (Trade-off: one connection and one open transaction per running job,
# and a worker that hangs without dying keeps its job.)
import asyncio
import json


async def enqueue(pool, payload: dict) -> int:
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("""
                SELECT id, payload FROM jobs WHERE status = 'queued'
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED""")
            if row is not None:
                await handler(json.loads(row["payload"]))
                await conn.execute("UPDATE jobs SET status = 'done', done_at = now(), attempts = attempts + 1 "
                                   "WHERE id = $1", row["id"])
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
