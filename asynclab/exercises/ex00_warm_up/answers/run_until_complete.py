# expect: asyncio-run
# The pre-3.7 spelling of asyncio.run: the loop is already running, so it raises RuntimeError.
import asyncio


async def pause(seconds: float) -> str:
    asyncio.get_event_loop().run_until_complete(asyncio.sleep(seconds))
    return "done"
