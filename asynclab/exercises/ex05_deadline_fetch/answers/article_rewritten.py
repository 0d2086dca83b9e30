# expect: httpx-error-escaped
# The source article's wrapper, given the client instead of making one: asyncio.timeout, but
# `except TimeoutError` only. httpx's own ReadTimeout is not a TimeoutError and escapes.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
            return response.text
    except TimeoutError:
        raise ServiceUnavailable(f"no answer from {url} within {seconds} s") from None
