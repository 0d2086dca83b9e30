# expect: wrong-result
# The pause is right, but the function falls off its end and returns None.
import asyncio


async def pause(seconds: float) -> str:
    await asyncio.sleep(seconds)
