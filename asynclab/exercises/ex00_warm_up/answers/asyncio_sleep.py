# expect: pass
# The fix the lesson teaches.
import asyncio


async def pause(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"
