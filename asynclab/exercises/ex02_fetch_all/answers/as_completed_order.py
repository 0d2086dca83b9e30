# expect: wrong-order
# as_completed yields in completion order, so the bodies come back fastest first.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    bodies = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_text(client, url)) for url in urls]
        for next_done in asyncio.as_completed(tasks):
            bodies.append(await next_done)
    return bodies
