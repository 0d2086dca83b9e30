# expect: children-left-running
# The starter with `except CancelledError: raise` added first: same as catching Exception only,
# the other tasks keep running after the caller is cancelled.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    report = {}
    for url, task in zip(urls, tasks):
        try:
            report[url] = await task
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            report[url] = exc
    return report
