# expect: cancellation-swallowed
# gather(return_exceptions=True) already raises CancelledError when the caller is cancelled
# (bpo-32684, Python 3.8+); this answer catches it and turns it into values anyway.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    try:
        results = await asyncio.gather(*(fetch_text(client, url) for url in urls), return_exceptions=True)
    except asyncio.CancelledError as exc:
        results = [exc] * len(urls)
    return dict(zip(urls, results))
