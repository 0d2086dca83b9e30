# expect: pass
# One TaskGroup child per URL, each catching Exception (never BaseException) around its request.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    report: dict[str, str | Exception] = {}

    async def record(url):
        try:
            report[url] = await fetch_text(client, url)
        except Exception as exc:
            report[url] = exc

    async with asyncio.TaskGroup() as tg:
        for url in urls:
            tg.create_task(record(url))
    return {url: report[url] for url in urls}
