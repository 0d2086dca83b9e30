# expect: pass
# One thread hashes the whole list: no faster than inline, but the loop stays free.
import asyncio


async def hash_passwords(passwords: list[str]) -> list[str]:
    return await asyncio.to_thread(lambda: [hash_password(p) for p in passwords])
