# expect: client-error-as-unavailable
# The old hint: raise_for_status() inside the try and `except httpx.HTTPError`, which also
# catches the HTTPStatusError of a 4xx. A 404 is the caller's mistake, reported as an outage.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
            response.raise_for_status()
            return response.text
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
