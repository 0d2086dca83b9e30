# expect: children-left-running
# The starter with only the except clause fixed: the caller's CancelledError now propagates
# (and cancels the task being awaited), but the tasks created for the other URLs are nobody's
# children: they keep running.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    report = {}
    for url, task in zip(urls, tasks):
        try:
            report[url] = await task
        except Exception as exc:
            report[url] = exc
    return report
