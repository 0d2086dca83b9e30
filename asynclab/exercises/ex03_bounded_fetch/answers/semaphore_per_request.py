# expect: over-limit
# A semaphore created inside the per-request coroutine: each request has its own, so it bounds nothing.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    async def one(url: str) -> str:
        sem = asyncio.Semaphore(limit)
        async with sem:
            response = await client.get(url)
            return response.text

    return list(await asyncio.gather(*(one(url) for url in urls)))
