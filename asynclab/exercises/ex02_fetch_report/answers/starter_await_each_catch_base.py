# expect: cancellation-swallowed
# The starter: concurrent and ordered, but `except BaseException` also catches the caller's
# cancellation, stores it as a value and carries on, returning a report after being cancelled.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    report = {}
    for url, task in zip(urls, tasks):
        try:
            report[url] = await task
        except BaseException as exc:
            report[url] = exc
    return report
