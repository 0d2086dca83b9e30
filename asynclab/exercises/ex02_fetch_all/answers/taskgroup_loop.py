# expect: pass
# A TaskGroup filled by a plain loop; results read after the block.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    tasks = []
    async with asyncio.TaskGroup() as group:
        for url in urls:
            tasks.append(group.create_task(fetch_text(client, url)))
    return [task.result() for task in tasks]
