# expect: query-left-running
# Stops *waiting* in time, but asyncio.wait(timeout=) never cancels the task: the query keeps
# running on the server (and holds its connection) until it ends by itself.
import asyncio

import asyncpg

from asynclab import ServiceUnavailable


async def query_with_deadline(pool: asyncpg.Pool, sql: str, seconds: float) -> list:
    task = asyncio.create_task(pool.fetch(sql))
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        raise ServiceUnavailable(f"query over {seconds} s")
    return task.result()
