# expect: too-slow
# Waits on an event nobody sets: the loop is free, but pause() never returns.
import asyncio


async def pause(seconds: float) -> str:
    await asyncio.Event().wait()
    return "done"
