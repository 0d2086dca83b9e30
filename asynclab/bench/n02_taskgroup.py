"""Notebook 02 · TaskGroup: `02-fetch-all`, the TaskGroup fix against the `gather` starter.

Rows
- wall time of N jittered requests against the slowest of them (the ideal: concurrent time
  is the slowest request, not the sum). The slowest is what the server slept, read from the
  bodies. Both variants are fast here: the lesson is not about speed.
- cancellation overshoot: one request fails after 0.1 s while five others need 2.5 s. From the
  moment the failing answer reaches the client (an httpx response hook) until the server is
  seen with nothing in flight (polled every 10 ms). Ideal 0; the TaskGroup cancels the
  siblings, `gather` leaves them running to the end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx

from ..lab import Lab
from .cells import NotAvailable, load_pair
from .common import InFlightWatcher, client, settle
from .report import Row, Skip, Target

TITLE = "02 fetch-all"
DEADLINE = 45
NOTEBOOK, EXERCISE = "02", "02-fetch-all"
N, MS, JITTER, SEED = 20, 300, 200, 11
REPEATS = 3
SLOW_MS, N_SLOW, ERROR_MS = 2500, 5, 100
OVERSHOOT_BOUND = 0.25


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    try:
        variants = load_pair(NOTEBOOK, EXERCISE)
    except NotAvailable as exc:
        yield Skip(TITLE, str(exc))
        return
    n, repeats = (5, 1) if quick else (N, REPEATS)

    # 1. Wall time against the slowest request, fixed and broken interleaved, median of REPEATS.
    name = f"{EXERCISE}: wall time, {n} requests of {MS}±{JITTER} ms"
    api = lab.api.scoped()
    urls = [f"{api.url}/delay?ms={MS}&jitter={JITTER}&seed={SEED}&id=r{i}" for i in range(n)]
    times: dict[str, list[float]] = {"fixed": [], "broken": []}
    slowest = 0.0
    async with client() as http:
        await asyncio.gather(*(http.get(f"{api.url}/delay?ms=0&id=warm{i}") for i in range(n)))  # open n connections
        for _ in range(repeats):
            for variant, module in variants.items():
                settle()
                async with asyncio.timeout(30):
                    started = time.perf_counter()
                    bodies = await module.fetch_all(http, urls)
                    times[variant].append(time.perf_counter() - started)
                slowest = max(json.loads(b)["slept_ms"] for b in bodies) / 1000
    fixed = Row(name, "fixed", min(times["fixed"]), slowest, "s", target=Target.within(1.3),
                note=f"TaskGroup; best of {repeats}; ideal = the slowest request's server time")
    yield fixed
    yield Row(name, "broken", min(times["broken"]), slowest, "s",
              note=f"gather: as fast (speed is not its bug); best of {repeats}").against(fixed)

    # 2. How long after the failure the server still works for a cancelled caller.
    name = f"{EXERCISE}: after a failure, time until the server has nothing in flight"
    for variant, module in variants.items():
        yield await _cancel_overshoot(lab, module, name, variant)


async def _cancel_overshoot(lab: Lab, module: object, name: str, variant: str) -> Row:
    api = lab.api.scoped()
    failing = f"{api.url}/error?rate=1&ms={ERROR_MS}&id=boom"
    urls = [f"{api.url}/delay?ms={SLOW_MS}&id=slow{i}" for i in range(N_SLOW)]
    urls.insert(2, failing)
    failed_at: list[float] = []

    async def on_response(response: httpx.Response) -> None:
        if str(response.request.url) == failing:
            failed_at.append(time.perf_counter())

    async with client(event_hooks={"response": [on_response]}) as http, InFlightWatcher(api) as watcher:
        error: BaseException | None = None
        try:
            async with asyncio.timeout(SLOW_MS / 1000 + 5):
                await module.fetch_all(http, urls)  # type: ignore[attr-defined]
        except Exception as exc:  # the failure is the point: the TaskGroup raises an ExceptionGroup
            error = exc
        if error is None or not failed_at:
            raise RuntimeError(f"{variant} fetch_all did not fail on the /error request")
        zero = await watcher.wait_zero_after(failed_at[0], within=SLOW_MS / 1000 + 2)
        stats = await api.stats()
    if zero is None:
        raise RuntimeError(f"{variant}: requests still in flight {SLOW_MS / 1000 + 2:.1f} s after the failure")
    how = "TaskGroup cancels the siblings" if variant == "fixed" else "gather lets the siblings run to the end"
    return Row(name, variant, zero, 0.0, "s", target=Target.under(OVERSHOOT_BOUND) if variant == "fixed" else None,
               note=f"{how}: {stats['disconnects']} of {N_SLOW} cancelled at the server, "
                    f"{stats['completed'] - 1} completed; error raised as {type(error).__name__}")
