# expect: too-fast
# `await` forgotten: asyncio.sleep(seconds) only creates a coroutine, which is dropped unrun.
import asyncio


async def pause(seconds: float) -> str:
    asyncio.sleep(seconds)
    return "done"
