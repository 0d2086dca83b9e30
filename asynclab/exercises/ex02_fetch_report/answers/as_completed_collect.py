# expect: children-left-running
# as_completed over tasks: cancelling the caller leaves the tasks running.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    async def outcome(url):
        try:
            return url, await fetch_text(client, url)
        except Exception as exc:
            return url, exc

    tasks = [asyncio.create_task(outcome(url)) for url in urls]
    report = {}
    for next_done in asyncio.as_completed(tasks):
        url, value = await next_done
        report[url] = value
    return {url: report[url] for url in urls}
