# expect: status-unchecked
# Every call awaits, but the status is never checked: a 404's body would be merged into a user.
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}", params={"ms": PROFILE_MS})
    row = await pool.fetchrow(USER_SQL, user_id)
    return {**dict(row), **response.json()}
