# expect: pass
# Another style: acquire the semaphore BEFORE creating each task, so at most `limit` tasks exist.
import asyncio
import logging
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    sem = asyncio.Semaphore(limit)
    count = 0

    async def one(url: str) -> None:
        nonlocal count
        try:
            response = await client.get(url)
            response.raise_for_status()
            await sink(url, response.text)
            count += 1
        except httpx.HTTPError as exc:
            logging.warning("skipped %s: %r", url, exc)
        finally:
            sem.release()

    async with asyncio.TaskGroup() as tg:
        async for url in urls:
            await sem.acquire()
            tg.create_task(one(url))
    return count
