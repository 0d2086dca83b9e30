# expect: pass
# Server side: statement_timeout for this transaction only (set_config(..., true) is SET LOCAL
# with a parameter). PostgreSQL cancels the query itself, even if this client were stuck.
import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("select set_config('statement_timeout', $1, true)", f"{int(seconds * 1000)}ms")
                return await conn.fetch(sql)
    except asyncpg.QueryCanceledError as exc:
        raise ServiceUnavailable(f"query cancelled by statement_timeout after {seconds} s") from exc
