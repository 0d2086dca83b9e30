# expect: leaked-tasks
# queue.join() waits for the work, but the workers are never stopped: they outlive the call.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=limit)
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            url = await queue.get()
            try:
                response = await client.get(url)
                await sink(url, response.text)
                done += 1
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    async for url in urls:
        await queue.put(url)
    await queue.join()
    return done
