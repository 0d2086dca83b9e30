# expect: loop-blocked
# gather runs coroutines concurrently, not in parallel: each wrapper still hashes on the loop.
import asyncio


async def hash_one(password: str) -> str:
    return hash_password(password)


async def hash_passwords(passwords: list[str]) -> list[str]:
    return list(await asyncio.gather(*(hash_one(p) for p in passwords)))
