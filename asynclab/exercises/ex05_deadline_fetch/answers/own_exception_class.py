# expect: wrong-exception
# Everything right except the exception: a home-made class with a similar name, which callers
# that handle asynclab.ServiceUnavailable never see.
import asyncio

import httpx


class ServiceUnavailableError(Exception):
    pass


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
            response.raise_for_status()
            return response.text
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ServiceUnavailableError(url) from exc
