# expect: pass
# Not a style to copy: each child catches BaseException. The check cannot tell it from a correct
# answer, because when the caller is cancelled the TaskGroup still raises the caller's
# CancelledError (its children's cancellations were swallowed, but each child stopped at once).
# It breaks as soon as a child does more work after swallowing the cancellation (see section 6).
import asyncio


async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    async def outcome(url):
        try:
            return await fetch_text(client, url)
        except BaseException as exc:
            return exc

    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(outcome(url)) for url in urls}
    return {url: task.result() for url, task in tasks.items()}
