# expect: loop-blocked
# Everything awaits, but each call builds its own httpx.AsyncClient. Building one loads an SSL
# context: about 20 ms of CPU on the loop per call, 1 s for fifty. (Notebook 04's lesson, but
# it stalls the loop, so it fails here too.)
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    async with httpx.AsyncClient(base_url=client.base_url, params=client.params) as own:
        await asyncio.sleep(PAUSE)
        response = await own.get(f"/users/{user_id}")
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
