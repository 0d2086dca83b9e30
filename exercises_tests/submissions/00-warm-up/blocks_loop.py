# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import asyncio
import time

async def pause(seconds: float) -> str:
    time.sleep(0.2)  # blocks the loop
    await asyncio.sleep(seconds)  # suspends this call only; the loop runs everything else meanwhile
    return "done"
