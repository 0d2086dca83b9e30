# expect: request-left-running
# Gives up in time, but only stops *waiting*: asyncio.wait(timeout=) leaves the request running
# in its task, so the server never sees it cancelled (and the task leaks).
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def _get(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(url)
    response.raise_for_status()
    return response.text


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    task = asyncio.create_task(_get(client, url))
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        raise ServiceUnavailable(f"{url}: no answer within {seconds} s")
    try:
        return task.result()
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
