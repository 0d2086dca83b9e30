# expect: loop-blocked
# Sleep and HTTP are async now, but the query still goes through psycopg's sync API: a new
# connection and a 20 ms query per call, each holding the loop.
import asyncio

import asyncpg
import httpx
import psycopg
from psycopg.rows import dict_row


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    await asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}")
    with psycopg.connect(PG_DSN, row_factory=dict_row) as conn:
        row = conn.execute(USER_SQL_PSYCOPG, (user_id,)).fetchone()
    return {**row, **response.json()}
