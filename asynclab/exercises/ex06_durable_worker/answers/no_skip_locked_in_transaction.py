# expect: workers-serial
# The row lock of a transaction held through the handler is the lease (that part survives a crash),
# but without SKIP LOCKED the second worker waits on the first one's lock: one job at a time.
import asyncio
import json


async def enqueue(pool, payload: dict) -> int:
    return await pool.fetchval("INSERT INTO jobs (payload) VALUES ($1) RETURNING id", json.dumps(payload))


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    async with pool.acquire() as conn:
        while not stop.is_set():
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT id, payload FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE")
                if row is not None:
                    await handler(json.loads(row["payload"]))
                    await conn.execute("UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1", row["id"])
            if row is None:
                await asyncio.sleep(POLL_SECONDS)
