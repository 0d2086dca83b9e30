# Exercise: 03-stream-workers
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue = asyncio.Queue(maxsize=limit)
    done = 0
    async def worker():
        nonlocal done
        while (url := await queue.get()) is not None:
            try:
                response = await client.get(url)
                response.raise_for_status()
            except httpx.HTTPError:
                continue  # log it (or keep a dead-letter list) and go on
            await sink(url, response.text)
            done += 1
    async with asyncio.TaskGroup() as tg:
        for _ in range(limit):
            tg.create_task(worker())
        async for url in urls:
            await queue.put(url)
        for _ in range(limit):
            await queue.put(None)
    return done
