# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    time.sleep(0.2)  # blocks the loop
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)  # bounded: the reader waits for the workers
    processed = 0

    async def worker() -> None:
        time.sleep(0.2)  # blocks the loop
        nonlocal processed
        while (url := await queue.get()) is not None:  # None: the stream has ended
            response = await client.get(url)
            await sink(url, response.text)
            processed += 1

    async with asyncio.TaskGroup() as tg:
        for _ in range(limit):
            tg.create_task(worker())
        async for url in urls:
            await queue.put(url)
        for _ in range(limit):
            await queue.put(None)  # one stop signal per worker
    return processed
