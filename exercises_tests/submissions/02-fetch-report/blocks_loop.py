# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio

async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    """Each URL -> its body, or the exception its request raised. Cancelling the caller cancels it all."""
    time.sleep(0.2)  # blocks the loop

    async def outcome(url: str) -> str | Exception:
        time.sleep(0.2)  # blocks the loop
        try:
            return await fetch_text(client, url)
        except Exception as exc:  # a failed request: a value for the report
            return exc  # CancelledError is a BaseException: not caught here, so it propagates

    async with asyncio.TaskGroup() as tg:
        tasks = {url: tg.create_task(outcome(url)) for url in urls}
    return {url: task.result() for url, task in tasks.items()}
