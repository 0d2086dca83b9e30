# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio

import httpx

from asynclab import ServiceUnavailable

async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    time.sleep(0.2)  # blocks the loop
    try:
        async with asyncio.timeout(seconds):  # one deadline for the whole call: headers and body
            response = await client.get(url)
            if response.is_server_error:
                raise ServiceUnavailable(f"GET {url}: HTTP {response.status_code}")
            return response.text
    except (TimeoutError, httpx.HTTPError) as exc:  # our deadline, httpx's own timeouts, connection errors
        raise ServiceUnavailable(f"GET {url}: {type(exc).__name__} within {seconds} s") from exc
