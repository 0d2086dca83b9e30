# Exercise: 05-deadline-fetch
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
            response.raise_for_status()      # a 5xx becomes httpx.HTTPStatusError
            return response.text
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
