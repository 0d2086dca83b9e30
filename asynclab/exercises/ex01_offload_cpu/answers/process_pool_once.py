# expect: pass
# A process pool made once and reused: overkill for hashlib (threads suffice), but correct,
# and the loop stays free. hash_password is importable, so the workers can unpickle it.
import asyncio
from concurrent.futures import ProcessPoolExecutor

_workers = ProcessPoolExecutor(max_workers=2)


async def hash_passwords(passwords: list[str]) -> list[str]:
    loop = asyncio.get_running_loop()
    return list(await asyncio.gather(*(loop.run_in_executor(_workers, hash_password, p) for p in passwords)))
