# expect: pass
# gather over tasks, cancelling the tasks ourselves when it raises.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    tasks = [asyncio.create_task(fetch_text(client, url)) for url in urls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
