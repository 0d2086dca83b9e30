# expect: pass
# Three awaits one after another (concurrency inside one call is not needed), with an explicit
# connection from the pool and the dict spelled out.
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}")
    response.raise_for_status()
    profile = response.json()
    async with pool.acquire() as conn:
        row = await conn.fetchrow(USER_SQL, user_id)
    return {"id": row["id"], "name": row["name"], "email": row["email"],
            "tier": profile["tier"], "score": profile["score"]}
