# expect: wrong-exception
# asyncpg's own timeout= cancels the query on the server, but the caller gets a bare
# TimeoutError instead of ServiceUnavailable.
import asyncpg


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    return await pool.fetch(sql, timeout=seconds)
