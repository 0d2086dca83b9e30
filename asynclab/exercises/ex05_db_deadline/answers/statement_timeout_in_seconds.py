# expect: gave-up-early
# statement_timeout counts milliseconds when given a bare number: `= 1.5` means 1.5 ms, so even
# a query that fits its deadline is cancelled.
import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = {seconds}")
                return await conn.fetch(sql)
    except (TimeoutError, asyncpg.QueryCanceledError) as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
