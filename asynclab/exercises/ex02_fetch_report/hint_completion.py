# Exercise: 02-fetch-report
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    """Each URL -> its body, or the exception its request raised. Cancelling the caller cancels it all."""
    async def outcome(url):
        try:
            return await fetch_text(client, url)
        except Exception as exc:
            return exc
    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(outcome(url)) for url in urls}
    return {url: t.result() for url, t in tasks.items()}
