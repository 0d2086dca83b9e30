# expect: error-ends-stream
# The status is checked, but the error is not caught: one failed URL ends the whole TaskGroup.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)
    done = 0

    async def worker() -> None:
        nonlocal done
        while (url := await queue.get()) is not None:
            response = await client.get(url)
            response.raise_for_status()
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
