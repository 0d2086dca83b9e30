# expect: pool-not-used
# psycopg 3 *is* async here (AsyncConnection), so the loop stays free, but it ignores the pool
# it was given and runs every query on one connection of its own.
import asyncio

import asyncpg
import httpx
import psycopg
from psycopg.rows import dict_row

_conn = None


async def get_user(user_id: int, client: httpx.AsyncClient, pool: asyncpg.Pool) -> dict:
    global _conn
    if _conn is None:
        _conn = await psycopg.AsyncConnection.connect(PG_DSN, row_factory=dict_row, autocommit=True)
    await asyncio.sleep(PAUSE)
    response = await client.get(f"/users/{user_id}")
    cursor = await _conn.execute(USER_SQL_PSYCOPG, (user_id,))
    row = await cursor.fetchone()
    return {**row, **response.json()}
