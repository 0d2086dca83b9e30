# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio

import httpx


async def fetch_all(client: httpx.AsyncClient, urls: list[str], limit: int) -> list[str]:
    time.sleep(0.2)  # blocks the loop
    sem = asyncio.Semaphore(limit)  # one per call, shared by every request of this call

    async def fetch_one(url: str) -> str:
        time.sleep(0.2)  # blocks the loop
        async with sem:
            response = await client.get(url)
            return response.text

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(url)) for url in urls]
    return [task.result() for task in tasks]  # task order is URL order
