# expect: deadline-missed
# Only httpx's timeout, set to the deadline. It is per phase and per read, so a server that
# trickles one byte every 0.1 s keeps the request alive far past `seconds`.
import httpx

from asynclab import ServiceUnavailable


async def fetch_with_deadline(client: httpx.AsyncClient, url: str, seconds: float) -> str:
    try:
        response = await client.get(url, timeout=seconds)
        response.raise_for_status()
        return response.text
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"{url}: {exc!r}") from exc
