# expect: pass
# Another style: `limit` workers share a queue of (index, url); results land by index.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(urls):
        queue.put_nowait(item)
    results: list[str] = [""] * len(urls)

    async def worker() -> None:
        while not queue.empty():
            i, url = queue.get_nowait()
            response = await client.get(url)
            response.raise_for_status()  # a 4xx or 5xx raises; the TaskGroup stops the other workers
            results[i] = response.text

    async with asyncio.TaskGroup() as tg:
        for _ in range(min(limit, len(urls))):
            tg.create_task(worker())
    return results
