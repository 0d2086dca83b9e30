# expect: wrong-result
# Catches Exception (right) in a TaskGroup (right), but returns `response.text` without checking the
# status: a URL that answers 500 maps to its error page, as if it were a body.
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    async def outcome(url: str) -> str | Exception:
        try:
            response = await client.get(url)
            return response.text
        except Exception as exc:
            return exc

    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(outcome(url)) for url in urls}
    return {url: task.result() for url, task in tasks.items()}
