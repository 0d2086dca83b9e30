# expect: over-limit
# A bounded queue and workers, but two spare workers "to keep the pipe full": limit + 2 in flight.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    workers = limit + 2
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=workers)
    done = 0

    async def worker() -> None:
        nonlocal done
        while (url := await queue.get()) is not None:
            response = await client.get(url)
            await sink(url, response.text)
            done += 1

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
        async for url in urls:
            await queue.put(url)
        for _ in range(workers):
            await queue.put(None)
    return done
