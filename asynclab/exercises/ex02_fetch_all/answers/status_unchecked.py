# expect: error-swallowed
# A TaskGroup, but each request returns `response.text` without looking at the status: the /error
# request's 500 page comes back as a body, nothing raises, and fetch_all waits for the slow ones.
import asyncio


async def fetch_all(client, urls: list[str]) -> list[str]:
    async def get(url: str) -> str:
        response = await client.get(url)
        return response.text

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(get(url)) for url in urls]
    return [task.result() for task in tasks]
