# expect: wrong-exception
# A real deadline, but the caller gets a bare TimeoutError (and httpx errors are re-raised as
# TimeoutError too) instead of the one exception the contract names.
import asyncio

import httpx


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.get(url)
            response.raise_for_status()
            return response.text
    except httpx.HTTPError as exc:
        raise TimeoutError(str(exc)) from exc
