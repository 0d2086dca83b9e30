# expect: siblings-not-cancelled
# gather without return_exceptions: fast and ordered, and the first error reaches the caller at
# once, but gather does not cancel the other awaitables: they run on at the server.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    return await asyncio.gather(*(fetch_text(client, url) for url in urls))
