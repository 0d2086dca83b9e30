# expect: error-too-late
# Waits for every request, then raises the first error: nothing is cancelled and the caller
# hears about the failure only when the slowest request is done.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    results = await asyncio.gather(*(fetch_text(client, url) for url in urls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
