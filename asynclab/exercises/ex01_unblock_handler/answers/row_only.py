# expect: wrong-result
# Fetches the profile but forgets to merge it: only the database row comes back.
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}")
    response.raise_for_status()
    row = await pool.fetchrow(USER_SQL, user_id)
    return dict(row)
