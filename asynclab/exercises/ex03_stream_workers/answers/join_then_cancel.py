# expect: pass
# Another style: queue.join() waits for the work, then the workers are cancelled and awaited.
import asyncio
import logging
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=2 * limit)
    count = 0

    async def worker() -> None:
        nonlocal count
        while True:
            url = await queue.get()
            try:
                response = await client.get(url)
                response.raise_for_status()
                await sink(url, response.text)
                count += 1
            except httpx.HTTPError as exc:
                logging.warning("skipped %s: %r", url, exc)
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    try:
        async for url in urls:
            await queue.put(url)
        await queue.join()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return count
