# Exercise: 03-bounded-fetch
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    sem = asyncio.Semaphore(limit)
    async def one(url):
        async with sem:
            response = await client.get(url)
            response.raise_for_status()  # a 4xx or 5xx raises
            return response.text
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(u)) for u in urls]
    return [t.result() for t in tasks]
