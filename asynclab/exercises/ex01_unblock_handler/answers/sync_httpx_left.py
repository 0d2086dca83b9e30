# expect: loop-blocked
# time.sleep is fixed, but the API call still uses sync httpx: each call holds the loop for
# the API's whole latency, so fifty calls still queue.
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = httpx.get(f"{API_URL}/users/{user_id}", params={"ms": PROFILE_MS})
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
