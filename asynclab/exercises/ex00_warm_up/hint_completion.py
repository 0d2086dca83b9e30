# Exercise: 00-warm-up
# hint names, not code: async def pause(seconds) | time.sleep(seconds)
import asyncio


async def pause(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"
