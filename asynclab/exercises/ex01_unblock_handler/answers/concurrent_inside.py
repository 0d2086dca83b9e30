# expect: pass
# After the pause, the API call and the query run at the same time in a TaskGroup.
import asyncio

import asyncpg
import httpx


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    async with asyncio.TaskGroup() as tg:
        profile = tg.create_task(client.get(f"/users/{user_id}", params={"ms": PROFILE_MS}))
        row = tg.create_task(pool.fetchrow(USER_SQL, user_id))
    profile_body = profile.result().raise_for_status().json()  # a 4xx/5xx raises before the row is read
    return {**dict(row.result()), **profile_body}
