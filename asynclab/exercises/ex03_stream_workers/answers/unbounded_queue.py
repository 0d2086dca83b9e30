# expect: unbounded-buffer
# asyncio.Queue() without maxsize: the reader never waits, so the queue swallows the stream.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    done = 0

    async def worker() -> None:
        nonlocal done
        while (url := await queue.get()) is not None:
            response = await client.get(url)
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
