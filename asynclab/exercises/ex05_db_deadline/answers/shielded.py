# expect: query-left-running
# asyncio.shield "to protect the connection": the timeout fires, but the cancellation never
# reaches the query, which keeps running on the server.
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with asyncio.timeout(seconds):
            return await asyncio.shield(pool.fetch(sql))
    except TimeoutError as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
