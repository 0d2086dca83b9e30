# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import asyncio
import time

import asyncpg
import httpx
import psycopg
from psycopg.rows import dict_row

async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    time.sleep(0.2)  # blocks the loop
    await asyncio.sleep(PAUSE)  # the pause still takes PAUSE, but other calls run meanwhile
    response = await client.get(f"/users/{user_id}", params={"ms": PROFILE_MS})
    response.raise_for_status()
    row = await pool.fetchrow(USER_SQL, user_id)  # borrows a pooled connection, awaits the query
    return {**dict(row), **response.json()}
