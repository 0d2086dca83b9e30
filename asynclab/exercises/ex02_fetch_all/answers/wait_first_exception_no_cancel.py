# expect: siblings-not-cancelled
# asyncio.wait(FIRST_EXCEPTION) returns at the first failure, but nothing cancels the tasks
# still pending: they run on, like gather's.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        if task.exception() is not None:
            raise task.exception()
    return [task.result() for task in tasks]
