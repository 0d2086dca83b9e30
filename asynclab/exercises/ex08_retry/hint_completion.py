# Exercise: 08-retry
import asyncio
import random
import time

import httpx

from asynclab import ServiceUnavailable
from asynclab.lessons.overload import RetryBudget


async def call_with_retries(client: httpx.AsyncClient, url: str, *, deadline: float, budget: RetryBudget) -> str:
    RETRYABLE = {429, 502, 503, 504}
    budget.call()
    attempt = 0
    try:
        async with asyncio.timeout(deadline):
            while True:
                attempt += 1
                response = await client.get(url)
                if response.status_code not in RETRYABLE:
                    response.raise_for_status()
                    return response.text
                if not budget.spend():
                    raise ServiceUnavailable(f"{url}: retry budget spent")
                retry_after = float(response.headers.get("Retry-After", 0))
                await asyncio.sleep(retry_after + random.uniform(0, min(2.0, 0.1 * 2 ** attempt)))
    except TimeoutError:
        raise ServiceUnavailable(f"{url}: no answer within {deadline} s") from None
