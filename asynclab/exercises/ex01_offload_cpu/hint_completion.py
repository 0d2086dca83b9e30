# Exercise: 01-offload-cpu
import asyncio


async def hash_passwords(passwords: list[str]) -> list[str]:
    return list(await asyncio.gather(*(asyncio.to_thread(hash_password, p) for p in passwords)))
