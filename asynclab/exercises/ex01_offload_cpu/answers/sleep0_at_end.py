# expect: loop-blocked
# An `await` at the end does not help: every hash is computed on the loop's thread before it.
import asyncio


async def hash_passwords(passwords: list[str]) -> list[str]:
    hashes = [hash_password(p) for p in passwords]
    await asyncio.sleep(0)
    return hashes
