# expect: client-error-returned
# Timeouts and 5xx handled, but a 4xx answer comes back as if it were the body.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
    except (TimeoutError, httpx.RequestError) as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
    if response.is_server_error:
        raise ServiceUnavailable(f"{url}: HTTP {response.status_code}")
    return response.text
