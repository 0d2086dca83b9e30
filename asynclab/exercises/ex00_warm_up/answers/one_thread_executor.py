# expect: too-slow
# time.sleep in an executor of one thread: the loop is free, but the pauses wait for that thread.
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

one_thread = ThreadPoolExecutor(max_workers=1)


async def pause(seconds: float) -> str:
    await asyncio.get_running_loop().run_in_executor(one_thread, time.sleep, seconds)
    return "done"
