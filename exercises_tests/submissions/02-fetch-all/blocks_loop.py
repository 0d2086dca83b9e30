# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio

async def fetch_all(client, urls: list[str]) -> list[str]:
    """The bodies of `urls`, in order. If one request fails, the others are cancelled and the error raised."""
    time.sleep(0.2)  # blocks the loop
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_text(client, url)) for url in urls]
    return [task.result() for task in tasks]  # after the block: every task is done
