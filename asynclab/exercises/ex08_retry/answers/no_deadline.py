# expect: deadline-missed
# Backoff with full jitter, Retry-After and the budget, but `deadline` is never used: eight attempts, whatever the time.
import asyncio
import random

import httpx

from asynclab import ServiceUnavailable
from asynclab.lessons.overload import RetryBudget

RETRYABLE = {429, 502, 503, 504}


async def call_with_retries(client: httpx.AsyncClient, url: str, *, deadline: float, budget: RetryBudget) -> str:
    budget.call()
    for attempt in range(1, 9):
        response = await client.get(url)
        if response.status_code not in RETRYABLE:
            response.raise_for_status()
            return response.text
        if attempt == 8 or not budget.spend():
            break
        retry_after = float(response.headers.get("Retry-After", 0))
        await asyncio.sleep(retry_after + random.uniform(0, 0.4 * 2**attempt))
    raise ServiceUnavailable(f"{url}: gave up")
