# expect: too-many-tasks
# A TaskGroup with a task per URL and nothing bounding them at all.
import asyncio
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    count = 0

    async def one(url: str) -> None:
        nonlocal count
        response = await client.get(url)
        await sink(url, response.text)
        count += 1

    async with asyncio.TaskGroup() as tg:
        async for url in urls:
            tg.create_task(one(url))
    return count
