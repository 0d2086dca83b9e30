# expect: pass
# Another style: stamina does the backoff (exponential, jitter added), its hook does Retry-After, 4xx and the budget.
import asyncio
import random

import httpx
import stamina

from asynclab import ServiceUnavailable
from asynclab.lessons.overload import RetryBudget

RETRYABLE = {429, 502, 503, 504}


async def call_with_retries(client: httpx.AsyncClient, url: str, *, deadline: float, budget: RetryBudget) -> str:
    def decide(exc: Exception) -> bool | float:
        if not isinstance(exc, httpx.HTTPStatusError) or exc.response.status_code not in RETRYABLE:
            return False
        if not budget.spend():
            return False
        retry_after = exc.response.headers.get("Retry-After")
        return float(retry_after) + random.uniform(0, 0.2) if retry_after else True

    budget.call()
    try:
        async with asyncio.timeout(deadline):
            async for attempt in stamina.retry_context(on=decide, attempts=None, timeout=None,
                                                       wait_initial=0.05, wait_max=2.0, wait_jitter=0.2):
                with attempt:
                    response = await client.get(url)
                    response.raise_for_status()
                    return response.text
    except TimeoutError:
        raise ServiceUnavailable(f"{url}: no answer within {deadline} s") from None
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in RETRYABLE:
            raise ServiceUnavailable(f"{url}: {exc.response.status_code}, budget spent") from exc
        raise
    raise ServiceUnavailable(f"{url}: gave up")
