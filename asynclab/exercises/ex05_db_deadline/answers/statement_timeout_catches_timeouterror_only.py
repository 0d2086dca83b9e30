# expect: db-error-escaped
# A server-side statement_timeout (right idea), but only TimeoutError is caught: PostgreSQL
# ends the query with asyncpg.QueryCanceledError, which is not a TimeoutError.
import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
                return await conn.fetch(sql)
    except TimeoutError as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
