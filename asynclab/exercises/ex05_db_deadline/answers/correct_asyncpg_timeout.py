# expect: pass
# asyncpg's own timeout=: on expiry it sends PostgreSQL a cancel request and raises
# TimeoutError (asyncio.TimeoutError, the builtin since 3.11).
import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        return await pool.fetch(sql, timeout=seconds)
    except TimeoutError as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
