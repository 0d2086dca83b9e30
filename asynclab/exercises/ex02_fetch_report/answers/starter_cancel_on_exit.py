# expect: pass
# The starter repaired by hand: catch Exception only, and on the way out (cancelled or not)
# cancel every task and wait for them, which is what a TaskGroup does for you.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    report = {}
    try:
        for url, task in zip(urls, tasks):
            try:
                report[url] = await task
            except Exception as exc:
                report[url] = exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return report
