# expect: too-many-tasks
# The starter: a task for every URL. Bounded by a semaphore in flight, but the tasks pile up.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    sem = asyncio.Semaphore(limit)

    async def one(url: str) -> None:
        async with sem:
            response = await client.get(url)
        await sink(url, response.text)

    tasks = []
    async for url in urls:
        tasks.append(asyncio.create_task(one(url)))
    await asyncio.gather(*tasks)
    return len(tasks)
