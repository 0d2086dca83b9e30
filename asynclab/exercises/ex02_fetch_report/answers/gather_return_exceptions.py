# expect: pass
# The article's "before TaskGroup" shape. On Python 3.8+ it is a correct report: errors come back
# as values, and cancelling the caller cancels every child and raises CancelledError (bpo-32684).
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    results = await asyncio.gather(*(fetch_text(client, url) for url in urls), return_exceptions=True)
    return dict(zip(urls, results))
