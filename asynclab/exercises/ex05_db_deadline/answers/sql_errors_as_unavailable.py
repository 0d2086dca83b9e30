# expect: sql-error-as-unavailable
# The old hint: `except (TimeoutError, asyncpg.PostgresError)`. The deadline is right, but a
# query on a missing table (a bug, not an outage) also becomes ServiceUnavailable.
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with asyncio.timeout(seconds):
            return await pool.fetch(sql)
    except (TimeoutError, asyncpg.PostgresError) as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
