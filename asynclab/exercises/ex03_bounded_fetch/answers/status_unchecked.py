# expect: status-unchecked
# Bounded and in order, but no status check: a 503's body comes back as if it were the page.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    sem = asyncio.Semaphore(limit)

    async def fetch_one(url: str) -> str:
        async with sem:
            response = await client.get(url)
            return response.text

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]
