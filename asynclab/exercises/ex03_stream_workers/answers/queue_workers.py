# expect: pass
# A bounded queue feeding `limit` workers; one None per worker ends them.
import asyncio
import logging
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)
    done = 0

    async def worker() -> None:
        nonlocal done
        while (url := await queue.get()) is not None:
            try:
                response = await client.get(url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                logging.warning("skipped %s: %r", url, exc)
                continue
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
