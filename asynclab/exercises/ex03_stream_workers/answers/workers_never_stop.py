# expect: timeout
# Workers loop forever on queue.get(): the stream ends, everything is processed, nothing returns.
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
            response = await client.get(url)
            await sink(url, response.text)
            done += 1

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    async for url in urls:
        await queue.put(url)
    await asyncio.gather(*workers)
    return done
