# expect: pass
# asyncio.wait_for instead of asyncio.timeout: since 3.11 it raises the builtin TimeoutError,
# and it cancels the awaited request when the time is up. A 5xx becomes ServiceUnavailable; a 4xx
# leaves as httpx.HTTPStatusError, which `except httpx.RequestError` does not catch.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def _get(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(url)
    if response.is_server_error:
        raise ServiceUnavailable(f"GET {url}: HTTP {response.status_code}")
    response.raise_for_status()  # 4xx: the caller's mistake
    return response.text


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        return await asyncio.wait_for(_get(client, url), timeout=seconds)
    except (TimeoutError, httpx.RequestError) as exc:
        raise ServiceUnavailable(f"GET {url}: {type(exc).__name__}") from exc
