"""An open-loop burst against a service whose partner has a fixed capacity, under three policies.

Requests arrive on a schedule (`rate` per second for `seconds`), whether or not the service
keeps up, as real clients do. Each request carries `payload` bytes and needs one call to the
partner, which takes at most `workers` calls at a time. Latency is measured from the moment a
request *arrived* (was meant to), so time spent waiting at the door counts too.

- "task-per-request": every request gets a task at once; the tasks queue for the partner.
- "backpressure": `workers` tasks take requests from a queue of `queue_size`; a full queue makes
  the arrival loop wait (`await queue.put`), so later requests wait outside, in the client.
- "shed": the same workers and queue, but a full queue answers 503 at once (`put_nowait`).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

POLICIES = ("task-per-request", "backpressure", "shed")


@dataclass(frozen=True)
class BurstResult:
    policy: str
    offered: int
    served: int
    shed: int
    p50: float  # seconds from arrival to answer, served requests
    p99: float
    peak_tasks: int  # tasks alive beyond those before the burst
    peak_kib: float  # tracemalloc's peak during the burst, above the start

    def row(self) -> dict[str, object]:
        return {"policy": self.policy, "served": self.served, "shed (503)": self.shed,
                "p50 ms": round(self.p50 * 1000), "p99 ms": round(self.p99 * 1000),
                "peak tasks": self.peak_tasks, "peak KiB": round(self.peak_kib)}


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def run_burst(policy: str, call: Callable[[], Awaitable[object]], *, rate: float, seconds: float,
                    workers: int, queue_size: int, payload: int = 16_384, timeout: float = 30.0) -> BurstResult:
    """Offer `rate x seconds` requests under `policy`; measure latency, tasks and memory."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    latencies: list[float] = []
    shed = 0
    limit = asyncio.Semaphore(workers)  # the partner's capacity (a pool of `workers` connections)
    queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue(maxsize=queue_size)
    pending: set[asyncio.Task[None]] = set()

    async def serve(data: bytes, arrived: float) -> None:
        async with limit:
            await call()
        latencies.append(time.perf_counter() - arrived)
        del data

    async def worker() -> None:
        while True:
            data, arrived = await queue.get()
            try:
                await serve(data, arrived)
            finally:
                queue.task_done()

    before = len(asyncio.all_tasks())
    peak_tasks = 0
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    pool = [asyncio.create_task(worker()) for _ in range(workers)] if policy != "task-per-request" else []
    offered = round(rate * seconds)
    try:
        async with asyncio.timeout(timeout):
            start = time.perf_counter()
            for i in range(offered):
                arrived = start + i / rate
                ahead = arrived - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                data = bytes(payload)
                if policy == "task-per-request":
                    task = asyncio.create_task(serve(data, arrived))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif policy == "backpressure":
                    await queue.put((data, arrived))
                else:
                    try:
                        queue.put_nowait((data, arrived))
                    except asyncio.QueueFull:
                        shed += 1  # answered 503 with Retry-After at once; nothing is kept
                del data
                peak_tasks = max(peak_tasks, len(asyncio.all_tasks()) - before)
            while pending:
                await asyncio.wait(set(pending))
            await queue.join()
        peak_kib = (tracemalloc.get_traced_memory()[1] - base) / 1024
    finally:
        if not was_tracing:
            tracemalloc.stop()
        for task in pool + list(pending):
            task.cancel()
        await asyncio.gather(*pool, *pending, return_exceptions=True)
    latencies.sort()
    return BurstResult(policy, offered, len(latencies), shed, _p(latencies, 0.5), _p(latencies, 0.99),
                       peak_tasks, peak_kib)
