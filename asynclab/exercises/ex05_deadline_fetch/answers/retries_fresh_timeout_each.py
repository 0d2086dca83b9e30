# expect: deadline-missed
# Three attempts, each with a fresh asyncio.timeout(seconds): against a server that never
# answers, the caller waits three deadlines, not one.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    last: Exception | None = None
    for _ in range(3):
        try:
            async with asyncio.timeout(seconds):
                response = await client.get(url)
                response.raise_for_status()
                return response.text
        except (TimeoutError, httpx.HTTPError) as exc:
            last = exc
    raise ServiceUnavailable(f"{url}: {last!r}") from last
