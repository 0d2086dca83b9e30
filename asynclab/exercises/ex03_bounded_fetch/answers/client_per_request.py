# expect: client-per-request
# The source article's version: one semaphore (good), but a new AsyncClient, so a new
# connection pool, for every request inside it.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    semaphore = asyncio.Semaphore(limit)

    async def fetch_one(url: str) -> str:
        async with semaphore:
            async with httpx.AsyncClient() as own_client:
                response = await own_client.get(url, timeout=10)
                return response.text

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [t.result() for t in tasks]
