# expect: error-swallowed
# Turns a failure into an empty string: the caller never learns that a request failed.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    async def safe(url):
        try:
            return await fetch_text(client, url)
        except Exception:
            return ""

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(safe(url)) for url in urls]
    return [task.result() for task in tasks]
