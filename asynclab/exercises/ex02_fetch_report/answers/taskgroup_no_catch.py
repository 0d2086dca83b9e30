# expect: error-not-reported
# A TaskGroup without a try/except in each child: the first failure cancels the rest and the
# caller gets an ExceptionGroup instead of a report.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(fetch_text(client, url)) for url in urls}
    return {url: task.result() for url, task in tasks.items()}
