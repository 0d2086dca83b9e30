# expect: too-slow
# The loop stays free, but a shared lock lets one pause run at a time: ten pauses queue up.
import asyncio

lock = asyncio.Lock()


async def pause(seconds: float) -> str:
    async with lock:
        await asyncio.sleep(seconds)
    return "done"
