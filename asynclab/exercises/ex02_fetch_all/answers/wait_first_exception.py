# expect: pass
# The pre-3.11 way: asyncio.wait(FIRST_EXCEPTION), then cancel what is left, wait for it to
# stop, and raise the failure.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # does nothing to tasks that have finished
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()
    return [task.result() for task in tasks]
