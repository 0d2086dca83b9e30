# expect: client-not-used
# Non-blocking, but it talks to the API through a client of its own, built on API_URL: the
# `client` argument is ignored (and with it whatever the caller configured on it).
import asyncio

import asyncpg
import httpx

_client = httpx.AsyncClient(base_url=API_URL, timeout=10)


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = await _client.get(f"/users/{user_id}", params={"ms": PROFILE_MS})
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
