# expect: too-fast
# Awaits, but always for 0.2 s, whatever it is asked: pause(0.3) returns early.
import asyncio


async def pause(seconds: float) -> str:
    await asyncio.sleep(0.2)
    return "done"
