# expect: wrong-result
# Returns True instead of the string "done".
import asyncio


async def pause(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return True
