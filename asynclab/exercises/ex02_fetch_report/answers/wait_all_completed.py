# expect: children-left-running
# asyncio.wait collects every outcome, but cancelling the caller cancels only the wait:
# the request tasks keep running.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    tasks = {url: asyncio.create_task(fetch_text(client, url)) for url in urls}
    await asyncio.wait(tasks.values())
    return {url: task.exception() or task.result() for url, task in tasks.items()}
