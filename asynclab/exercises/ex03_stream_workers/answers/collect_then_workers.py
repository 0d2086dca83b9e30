# expect: unbounded-buffer
# Workers are right, but the whole stream is read into a list first: memory grows with the stream.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    pending = [url async for url in urls]
    done = 0

    async def worker() -> None:
        nonlocal done
        while pending:
            url = pending.pop()
            response = await client.get(url)
            await sink(url, response.text)
            done += 1

    async with asyncio.TaskGroup() as tg:
        for _ in range(limit):
            tg.create_task(worker())
    return done
