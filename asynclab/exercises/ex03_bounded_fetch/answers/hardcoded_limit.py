# expect: over-limit
# One module-level semaphore with a hard-coded size: it ignores `limit`.
import asyncio

import httpx

SEMAPHORE = asyncio.Semaphore(10)


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    async def one(url: str) -> str:
        async with SEMAPHORE:
            return (await client.get(url)).text

    return list(await asyncio.gather(*(one(url) for url in urls)))
