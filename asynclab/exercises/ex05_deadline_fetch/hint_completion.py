# Exercise: 05-deadline-fetch
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
    except (TimeoutError, httpx.RequestError) as exc:   # no answer, or no connection
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
    if response.is_server_error:                      # 5xx: the service is unavailable
        raise ServiceUnavailable(f"{url}: HTTP {response.status_code}")
    response.raise_for_status()                       # 4xx: the caller's mistake, raised as it is
    return response.text
