# expect: pass
# Another style: the row lock of a transaction held for the whole job is the lease. When a worker dies,
# PostgreSQL ends its session and releases the lock, so the job is free again at once; SKIP LOCKED lets the
# other worker pass it by meanwhile. (Trade-off: one connection and one open transaction per running job,
# a worker that hangs without dying keeps its job, and a job that kills its worker every time is retried
# forever: a rolled-back transaction counts no attempt.) No heartbeat is needed: the lock lasts as long as the
# session, and it fences the row from everyone else.
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
                try:
                    await handler(json.loads(row["payload"]))
                except Exception:  # count the attempt; give up after MAX_ATTEMPTS (the transaction still commits)
                    await conn.execute("UPDATE jobs SET attempts = attempts + 1, status = CASE WHEN attempts + 1 >= $2 "
                                       "THEN 'failed' ELSE 'queued' END WHERE id = $1", row["id"], MAX_ATTEMPTS)
                else:
                    await conn.execute("UPDATE jobs SET status = 'done', done_at = now(), attempts = attempts + 1 "
                                       "WHERE id = $1", row["id"])
        if row is None:
            await asyncio.sleep(POLL_SECONDS)
