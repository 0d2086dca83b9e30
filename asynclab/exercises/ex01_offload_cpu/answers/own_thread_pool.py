# expect: pass
# A thread pool of its own (so the default pool stays free for DNS and to_thread), made once.
import asyncio
from concurrent.futures import ThreadPoolExecutor

_hashing = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hashing")


async def hash_passwords(passwords: list[str]) -> list[str]:
    loop = asyncio.get_running_loop()
    return list(await asyncio.gather(*(loop.run_in_executor(_hashing, hash_password, p) for p in passwords)))
