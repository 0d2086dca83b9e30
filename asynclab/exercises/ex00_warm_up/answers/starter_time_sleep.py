# expect: loop-blocked
# The starter: time.sleep holds the thread, and the event loop lives on that thread.
import asyncio
import time


async def pause(seconds: float) -> str:
    time.sleep(seconds)
    return "done"
