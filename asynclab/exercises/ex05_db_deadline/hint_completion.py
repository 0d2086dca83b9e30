# Exercise: 05-db-deadline
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with asyncio.timeout(seconds):
            return await pool.fetch(sql)
    except (TimeoutError, asyncpg.QueryCanceledError) as exc:   # only the deadline, not every SQL error
        raise ServiceUnavailable(f"query over {seconds} s") from exc
