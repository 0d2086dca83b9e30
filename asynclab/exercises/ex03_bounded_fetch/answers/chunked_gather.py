# expect: too-slow
# Batches of `limit`: never over the limit, but each batch waits for its slowest request.
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    results: list[str] = []
    for start in range(0, len(urls), limit):
        chunk = urls[start:start + limit]
        responses = await asyncio.gather(*(client.get(url) for url in chunk))
        results.extend(r.text for r in responses)
    return results
