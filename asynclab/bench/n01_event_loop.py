"""Notebook 01 · The event loop is not a thread pool: `01-unblock-handler` and `01-offload-cpu`.

Rows
- 01-unblock-handler: 50 concurrent `get_user` calls. Ideal: one call of the fixed version (best
  of 3, measured just before). The fixed handler gets an httpx client on a fresh API scope and
  an asyncpg pool of 50 connections, one per concurrent call, opened before timing, so nothing
  but the handler's own waits sets the pace (with the check's pool of 10, the 50 queries of 20 ms
  queue for five rounds). The broken starter brings its own sync clients. Plus the share of the
  wall time the loop was stalled (stalls of 50 ms or more, LoopMonitor), ideal 0.
- 01-offload-cpu: hashing PASSWORDS with `hash_passwords`. Ideal: the same hashing done
  one after another in plain Python (best of 3), divided by the cores this process may use:
  hashlib releases the GIL, so threads can share it out. Plus the loop's stalled share.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import asyncpg

from ..grading.measure import STALL_SHARE
from ..instruments.loop_monitor import LoopMonitor
from ..lab import Lab
from .cells import NotAvailable, load_pair
from .common import client, median, settle
from .report import Row, Skip, Target

TITLE = "01 event loop"
DEADLINE = 90
NOTEBOOK = "01"
CALLS = 50
FIRST_ID = 101
PASSWORDS = [f"correct-horse-{i}" for i in range(16)]
REPEATS = 3


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    async for item in _unblock_handler(lab, quick):
        yield item
    async for item in _offload_cpu(quick):
        yield item


async def _unblock_handler(lab: Lab, quick: bool) -> AsyncIterator[Row | Skip]:
    exercise = "01-unblock-handler"
    try:
        variants = load_pair(NOTEBOOK, exercise)
    except NotAvailable as exc:
        yield Skip(f"{exercise} rows", str(exc))
        return
    calls = 5 if quick else CALLS
    ids = list(range(FIRST_ID, FIRST_ID + calls))
    api = lab.api.scoped()
    wall: dict[str, float] = {}
    stalled: dict[str, LoopMonitor] = {}
    async with client(base_url=api.url) as http, \
            asyncpg.create_pool(lab.pg.dsn, min_size=calls, max_size=calls) as pool:
        get_user = variants["fixed"].get_user
        async with asyncio.timeout(30):
            await get_user(7, http, pool)  # warm-up: the first request opens a connection
            one = float("inf")
            for _ in range(REPEATS):
                settle()
                started = time.perf_counter()
                await get_user(8, http, pool)
                one = min(one, time.perf_counter() - started)
        for variant, module in variants.items():
            # The broken one blocks the loop, so no timeout could fire inside it: the runner's
            # deadline on this process is the bound.
            settle()
            async with LoopMonitor(interval=0.01) as monitor:
                started = time.perf_counter()
                results = await asyncio.gather(*(module.get_user(i, http, pool) for i in ids))
                wall[variant] = time.perf_counter() - started
            stalled[variant] = monitor
            wrong = [r for i, r in zip(ids, results, strict=True) if not isinstance(r, dict) or r.get("id") != i]
            if wrong:
                raise RuntimeError(f"{variant} get_user returned a wrong result: {wrong[0]!r}")

    name = f"{exercise}: wall time, {calls} concurrent calls"
    fixed = Row(name, "fixed", wall["fixed"], one, "s", target=Target.within(1.3),
                note=f"async sleep, client and pool; ideal = one call of the fixed version (best of {REPEATS})")
    yield fixed
    yield Row(name, "broken", wall["broken"], one, "s", target=Target.worse(5),
              note="time.sleep, sync httpx and psycopg: the calls queue").against(fixed)
    name = f"{exercise}: loop stalled, share of the wall time"
    for variant in ("fixed", "broken"):
        m = stalled[variant]
        yield Row(name, variant, m.blocked_share, 0.0, "share",
                  target=Target.under(STALL_SHARE) if variant == "fixed" else None,
                  note=f"{m.summary()} (stalls of {m.stall_threshold * 1000:.0f} ms or more)")


async def _offload_cpu(quick: bool) -> AsyncIterator[Row | Skip]:
    exercise = "01-offload-cpu"
    try:
        variants = load_pair(NOTEBOOK, exercise)
    except NotAvailable as exc:
        yield Skip(f"{exercise} rows", str(exc))
        return
    from ..lessons.n01_event_loop import hash_passwords_inline

    passwords = PASSWORDS[:4] if quick else PASSWORDS
    cores = usable_cores()
    expected = hash_passwords_inline(passwords[:2])
    for module in variants.values():  # warm-up: starts the default thread pool, checks the answers
        if await module.hash_passwords(passwords[:2]) != expected:
            raise RuntimeError(f"{module.__name__}.hash_passwords returned wrong hashes")
    sequential = float("inf")
    times: dict[str, list[float]] = {"fixed": [], "broken": []}
    shares: dict[str, list[float]] = {"fixed": [], "broken": []}
    for _ in range(REPEATS):  # interleaved, so a burst of load elsewhere hits every variant alike
        settle()
        started = time.perf_counter()
        hash_passwords_inline(passwords)
        sequential = min(sequential, time.perf_counter() - started)
        for variant, module in variants.items():
            settle()
            async with LoopMonitor(interval=0.01) as monitor:
                started = time.perf_counter()
                await module.hash_passwords(list(passwords))
                times[variant].append(time.perf_counter() - started)
            shares[variant].append(monitor.blocked_share)
    ideal = sequential / min(cores, len(passwords))
    name = f"{exercise}: wall time, {len(passwords)} PBKDF2 hashes"
    basis = f"ideal = plain sequential hashing ({sequential:.2f} s, best of {REPEATS}) / {cores} cores"
    fixed = Row(name, "fixed", min(times["fixed"]), ideal, "s", target=Target.within(1.3),
                note=f"asyncio.to_thread per password; best of {REPEATS}; {basis}")
    yield fixed
    yield Row(name, "broken", min(times["broken"]), ideal, "s",
              note=f"inline on the loop's thread; best of {REPEATS}").against(fixed)
    name = f"{exercise}: loop stalled, share of the wall time"
    for variant in ("fixed", "broken"):
        yield Row(name, variant, median(shares[variant]), 0.0, "share",
                  target=Target.under(STALL_SHARE) if variant == "fixed" else None,
                  note=f"median of {REPEATS} runs (stalls of 50 ms or more)")
