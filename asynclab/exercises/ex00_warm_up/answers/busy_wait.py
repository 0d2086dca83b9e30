# expect: loop-blocked
# A busy wait: no time.sleep, but the loop spins on this coroutine and never gets control back.
import asyncio
import time


async def pause(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"
