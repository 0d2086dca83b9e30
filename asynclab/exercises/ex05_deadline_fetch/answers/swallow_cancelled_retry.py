# expect: deadline-missed
# A retry helper that "retries on anything": `except BaseException` also catches the
# CancelledError that asyncio.timeout uses, so the deadline fires and the code carries on.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def _get_with_retries(client: httpx.AsyncClient, url: str, attempts: int = 3) -> str:
    for _ in range(attempts):
        try:
            response = await client.get(url)
            response.raise_for_status()
            return response.text
        except BaseException:  # the bug: swallows CancelledError too
            await asyncio.sleep(0.05)
    raise ServiceUnavailable(f"{url}: gave up after {attempts} attempts")


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            return await _get_with_retries(client, url)
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
