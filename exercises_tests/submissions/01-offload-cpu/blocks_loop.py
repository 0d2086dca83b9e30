# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio

async def hash_passwords(passwords: list[str]) -> list[str]:
    # hashlib releases the GIL while it hashes: the threads work while the loop keeps running.
    time.sleep(0.2)  # blocks the loop
    return list(await asyncio.gather(*(asyncio.to_thread(hash_password, p) for p in passwords)))
