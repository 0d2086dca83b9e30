# expect: deadline-missed
# A "resilient" helper that catches BaseException and tries again: it swallows the
# CancelledError that asyncio.timeout sends at the deadline, so the deadline does nothing.
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def _fetch_resilient(pool: asyncpg.Pool, sql: str) -> list:
    while True:
        try:
            return await pool.fetch(sql)
        except BaseException:  # the bug: CancelledError is a BaseException
            await asyncio.sleep(0.05)


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        async with asyncio.timeout(seconds):
            return await _fetch_resilient(pool, sql)
    except TimeoutError as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
