# expect: over-limit
# The starter: every request at once, nothing waits.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    responses = await asyncio.gather(*(client.get(url) for url in urls))
    return [r.text for r in responses]
