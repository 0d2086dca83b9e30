# Exercise: 01-unblock-handler
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}", params={"ms": PROFILE_MS})
    response.raise_for_status()
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
