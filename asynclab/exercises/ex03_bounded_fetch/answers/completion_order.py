# expect: wrong-order
# Bounded correctly, but results are appended as requests finish: completion order, not input order.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    sem = asyncio.Semaphore(limit)
    results: list[str] = []

    async def one(url: str) -> None:
        async with sem:
            response = await client.get(url)
            results.append(response.text)

    async with asyncio.TaskGroup() as tg:
        for url in urls:
            tg.create_task(one(url))
    return results
