# expect: retried-client-error
# raise_for_status() inside a try that catches every exception: the 404 is retried like a 503.
import asyncio
import random

import httpx

from asynclab import ServiceUnavailable
from asynclab.lessons.overload import RetryBudget


async def call_with_retries(client: httpx.AsyncClient, url: str, *, deadline: float, budget: RetryBudget) -> str:
    budget.call()
    try:
        async with asyncio.timeout(deadline):
            attempt = 0
            while True:
                attempt += 1
                retry_after = 0.0
                try:
                    response = await client.get(url)
                    retry_after = float(response.headers.get("Retry-After", 0))
                    response.raise_for_status()
                    return response.text
                except Exception:
                    if not budget.spend():
                        raise ServiceUnavailable(f"{url}: budget spent") from None
                await asyncio.sleep(retry_after + random.uniform(0, min(2.0, 0.1 * 2**attempt)))
    except TimeoutError:
        raise ServiceUnavailable(f"{url}: deadline") from None
