# expect: wrong-result
# Off the loop, but asyncio.wait returns a *set* of done tasks: the order of the input is lost.
import asyncio


async def hash_passwords(passwords: list[str]) -> list[str]:
    tasks = [asyncio.create_task(asyncio.to_thread(hash_password, p)) for p in passwords]
    done, _ = await asyncio.wait(tasks)
    return [t.result() for t in done]
