# expect: retry-immediate
# The starter: retries at once, forever, and returns any answer below 400.
import httpx

from asynclab.lessons.overload import RetryBudget


async def call_with_retries(client: httpx.AsyncClient, url: str, *, deadline: float, budget: RetryBudget) -> str:
    while True:
        response = await client.get(url)
        if response.status_code < 400:
            return response.text
