# expect: result-read-too-early
# The results are read inside the `async with` block, while the tasks still run:
# InvalidStateError, which makes the TaskGroup cancel every request.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_text(client, url)) for url in urls]
        return [task.result() for task in tasks]
