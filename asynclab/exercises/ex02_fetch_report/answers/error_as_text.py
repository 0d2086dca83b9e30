# expect: wrong-result
# Stores the error's message instead of the exception: the caller can no longer tell an error
# from a body.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    async def outcome(url):
        try:
            return await fetch_text(client, url)
        except Exception as exc:
            return f"error: {exc}"

    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(outcome(url)) for url in urls}
    return {url: task.result() for url, task in tasks.items()}
