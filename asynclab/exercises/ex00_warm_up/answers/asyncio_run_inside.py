# expect: asyncio-run
# asyncio.run() starts a new event loop; inside a running one it raises RuntimeError.
import asyncio


async def pause(seconds: float) -> str:
    asyncio.run(asyncio.sleep(seconds))
    return "done"
