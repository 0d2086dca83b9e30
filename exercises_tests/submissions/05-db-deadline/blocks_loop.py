# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio

import asyncpg

from asynclab import ServiceUnavailable

async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    time.sleep(0.2)  # blocks the loop
    try:
        async with asyncio.timeout(seconds):  # covers waiting for a pool connection, too
            return await pool.fetch(sql)  # cancelled at the deadline: asyncpg cancels it on the server
    except (TimeoutError, asyncpg.QueryCanceledError) as exc:  # QueryCanceledError: a server-side statement_timeout
        raise ServiceUnavailable(f"query took longer than {seconds} s") from exc
