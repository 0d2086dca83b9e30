# expect: server-error-returned
# A good deadline, but a 500 answer is handed back as if it were the body.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
            return response.text
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
