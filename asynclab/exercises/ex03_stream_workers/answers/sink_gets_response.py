# expect: wrong-result
# The right shape, but the sink gets the Response object instead of its text.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)
    done = 0

    async def worker() -> None:
        nonlocal done
        while (url := await queue.get()) is not None:
            await sink(url, await client.get(url))
            done += 1

    async with asyncio.TaskGroup() as tg:
        for _ in range(limit):
            tg.create_task(worker())
        async for url in urls:
            await queue.put(url)
        for _ in range(limit):
            await queue.put(None)
    return done
