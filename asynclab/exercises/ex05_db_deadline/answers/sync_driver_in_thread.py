# expect: query-left-running
# A sync driver in a worker thread under wait_for: the await is cancelled at the deadline, but
# a thread cannot be cancelled, so its query runs on to the end.
import asyncio
import os

import asyncpg
import psycopg

from asynclab import ServiceUnavailable


def _query_sync(sql: str) -> list:
    with psycopg.connect(os.environ["ASYNCLAB_PG_DSN"]) as conn:
        return conn.execute(sql).fetchall()


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    try:
        return await asyncio.wait_for(asyncio.to_thread(_query_sync, sql), seconds)
    except TimeoutError as exc:
        raise ServiceUnavailable(f"query over {seconds} s") from exc
