# expect: pass
# An absolute deadline (asyncio.timeout_at) computed once, a streamed body read chunk by chunk
# under it, and the status checked by hand: still one deadline for the whole call. A 4xx is
# raised as a ValueError of its own: any exception but ServiceUnavailable is right for it.
import asyncio

import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        async with asyncio.timeout_at(deadline):
            async with client.stream("GET", url) as response:
                if response.status_code >= 500:
                    raise ServiceUnavailable(f"GET {url}: HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise ValueError(f"GET {url}: HTTP {response.status_code}, the request is wrong")
                chunks = [chunk async for chunk in response.aiter_text()]
                return "".join(chunks)
    except TimeoutError as exc:
        raise ServiceUnavailable(f"GET {url}: no complete answer within {seconds} s") from exc
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"GET {url}: {exc!r}") from exc
