# expect: too-slow
# The pause is moved to a thread with to_thread. The loop stays free, but all fifty pauses
# share asyncio's default thread pool (min(32, cores + 4) threads; the check runs with 5, as
# on a 1-core machine), so they queue for it. A pause needs no thread: asyncio.sleep.
import asyncio
import time

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.to_thread(time.sleep, PAUSE)
    response = await client.get(f"/users/{user_id}")
    response.raise_for_status()
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
