# expect: pass
# asyncio.wait_for instead of asyncio.timeout: since 3.11 it raises the builtin TimeoutError,
# and it cancels the awaited request when the time is up. HTTPStatusError via raise_for_status.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def _get(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(url)
    response.raise_for_status()
    return response.text


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        return await asyncio.wait_for(_get(client, url), timeout=seconds)
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ServiceUnavailable(f"GET {url}: {type(exc).__name__}") from exc
