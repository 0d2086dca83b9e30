# expect: not-awaited
# time.sleep became asyncio.sleep, but without `await`: a coroutine object is made and thrown
# away, and the pause never happens (Python warns "coroutine 'sleep' was never awaited").
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}")
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
