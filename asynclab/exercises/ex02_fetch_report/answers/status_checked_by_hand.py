# expect: pass
# Its own request instead of fetch_text, with the status checked by hand: a 4xx/5xx raises
# httpx.HTTPStatusError, which goes into the report as a value.
import asyncio

import httpx


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    async def outcome(url: str) -> str | Exception:
        try:
            response = await client.get(url)
            if response.is_error:
                raise httpx.HTTPStatusError(f"{response.status_code} for {url}", request=response.request,
                                            response=response)
            return response.text
        except Exception as exc:
            return exc

    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(outcome(url)) for url in urls}
    return {url: task.result() for url, task in tasks.items()}
