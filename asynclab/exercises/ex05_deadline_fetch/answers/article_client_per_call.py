# expect: client-not-used
# The source article's shape: a brand-new AsyncClient for every call, ignoring the one passed
# in (and its timeouts, and its connection pool).
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            async with httpx.AsyncClient() as own:
                response = await own.get(url)
                return response.text
    except TimeoutError:
        raise ServiceUnavailable(f"no answer from {url} within {seconds} s") from None
