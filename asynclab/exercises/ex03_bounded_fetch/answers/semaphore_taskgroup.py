# expect: pass
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    sem = asyncio.Semaphore(limit)

    async def one(url: str) -> str:
        async with sem:
            response = await client.get(url)
            return response.raise_for_status().text

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(url)) for url in urls]
    return [t.result() for t in tasks]
