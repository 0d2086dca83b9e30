# expect: pass
# Both sides: a client deadline (covers waiting for a connection and a dead network) and a
# slightly longer statement_timeout (covers a client that is gone), each mapped to
# ServiceUnavailable.
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    server_ms = int(seconds * 1000) + 100
    try:
        async with asyncio.timeout(seconds):
            async with pool.acquire() as conn:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL statement_timeout = '{server_ms}ms'")
                    return await conn.fetch(sql)
    except (TimeoutError, asyncpg.QueryCanceledError) as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
