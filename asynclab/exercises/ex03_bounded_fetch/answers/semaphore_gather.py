# expect: pass
# Another style: gather keeps input order; the semaphore is acquired inside each coroutine.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    gate = asyncio.Semaphore(limit)

    async def get_text(url: str) -> str:
        await gate.acquire()
        try:
            return (await client.get(url)).raise_for_status().text  # a 4xx or 5xx raises
        finally:
            gate.release()

    return list(await asyncio.gather(*map(get_text, urls)))
