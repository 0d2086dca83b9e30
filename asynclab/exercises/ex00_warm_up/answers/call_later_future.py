# expect: pass
# What asyncio.sleep does inside: a future that a timer completes, awaited.
import asyncio


async def pause(seconds: float) -> str:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(seconds, done.set_result, "done")
    return await done
