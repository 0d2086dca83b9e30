# Exercise: 02-fetch-all
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    """The bodies of `urls`, in order. If one request fails, the others are cancelled and the error raised."""
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_text(client, url)) for url in urls]
    return [t.result() for t in tasks]   # after the block, not inside it
