# expect: pass
# Another style: the blocking sleep moves to a worker thread and the coroutine awaits it. The
# loop stays free. (Notebook 01 shows why this is a poor habit for many calls: they share a
# small thread pool. The warm-up only asks that the loop keeps running.)
import asyncio
import time


async def pause(seconds: float) -> str:
    await asyncio.to_thread(time.sleep, seconds)
    return "done"
