# expect: deadline-missed
# "Retry slow queries": each attempt gets its own timeout, so the caller waits three deadlines.
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    for _ in range(3):
        try:
            async with asyncio.timeout(seconds):
                return await pool.fetch(sql)
        except TimeoutError:
            continue
    raise ServiceUnavailable(f"query over {seconds} s, three times")
