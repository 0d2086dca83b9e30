# expect: not-durable
# An in-memory queue: the jobs live in the enqueuing process and die with it (and no other process sees them).
import asyncio
import itertools

_jobs: asyncio.Queue = asyncio.Queue()
_ids = itertools.count(1)


async def enqueue(pool, payload: dict) -> int:
    await _jobs.put(payload)
    return next(_ids)


async def work(pool, handler, *, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            payload = await asyncio.wait_for(_jobs.get(), POLL_SECONDS)
        except asyncio.TimeoutError:
            continue
        await handler(payload)
