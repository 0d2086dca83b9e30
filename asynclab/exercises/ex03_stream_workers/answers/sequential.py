# expect: too-slow
# Never more than one in flight, never more than one task: safe, but it ignores `limit`.
from collections.abc import AsyncIterator

import httpx


async def process_stream(client: httpx.AsyncClient, urls: AsyncIterator[str], limit: int, sink) -> int:
    count = 0
    async for url in urls:
        response = await client.get(url)
        await sink(url, response.text)
        count += 1
    return count
