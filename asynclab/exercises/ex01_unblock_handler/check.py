"""The check of 01-unblock-handler (notebook 01 · The event loop is not a thread pool): it measures.

`get_user(user_id, client, pool)` must wait PAUSE s, fetch the API's profile through the given
`client` and read the users row through the given asyncpg `pool`, without blocking the loop.
The check gives it an httpx.AsyncClient on a fresh API scope (every request answers after
PROFILE_MS, through the client's default `ms` parameter) and an asyncpg pool of 10 whose
`setup` hook counts acquisitions. Rounds:
1. A warm-up call inside `find_blocking()`: it names every blocking call a handler makes
   (time.sleep, httpx.get, psycopg...) by line, for the verdict. A sampling thread also notes
   which line of the learner's code held the loop, for blocking that no patch knows about
   (a new AsyncClient per call, CPU work).
2. One timed call: the reference time t1.
3. A probe of 5 concurrent calls: a handler that blocks for its whole duration (stalls over
   PROBE_BLOCKED of the probe) fails here in about 5 × t1, instead of 50 × t1.
4. 50 concurrent calls, under the loop monitor, counting requests at the API scope and
   acquisitions from the pool.
5. One call for user MISSING_ID, which the API answers with 404.
judge.py turns the recording into the verdict (instructor.md lists the rules in order). When
only the stall or time rule fails, the worker runs the whole check once more (measure.remeasure).
The loop's default thread pool is fixed at 5 threads (what asyncio gives a 1-core machine,
Binder's size), so `await asyncio.to_thread(time.sleep, PAUSE)` fails the same way on every
machine: 50 pauses queue for 5 threads. That is notebook 01's shared-pool lesson.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import httpx

from ...grading.loopwatch import LoopSampler, Source
from ...grading.measure import (
    Stopwatch,
    client_constructions,
    name_blocking_lines,
    outcome_of,
    require_coroutine_function,
    unawaited_coroutines,
)
from ...grading.registry import Verdict, exercise
from ...instruments.loop_monitor import LoopMonitor
from ...lab import Lab
from .judge import CALLS, DEFAULT_POOL_THREADS, MISSING_ID, PROBE_CALLS, SINGLE_IDS, Measurement, Stall, judge, judge_probe

PROFILE_MS = 200  # the default; the setup cell's PROFILE_MS wins when present
POOL_SIZE = 10
FIRST_ID = 101  # the 50 calls ask for users 101..150
MISSING_WITHIN = 10.0  # seconds the 404 call may take


class _CountingPool(ThreadPoolExecutor):
    """The loop's default executor during the check: counts the jobs sent to it (to_thread)."""

    def __init__(self) -> None:
        super().__init__(max_workers=DEFAULT_POOL_THREADS, thread_name_prefix="asynclab-01-default")
        self.jobs = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.jobs += 1
        return super().submit(*args, **kwargs)


async def _expected_users(lab: Lab, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The right answer for each id: the users row (id, name, email) merged with the API profile."""
    import asyncpg

    reference = lab.api.scoped()  # a scope of its own: the learner's scope counts only the learner
    conn = await asyncpg.connect(lab.pg.dsn)
    try:
        rows = await conn.fetch("SELECT id, name, email FROM users WHERE id = ANY($1::int[])", ids)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=reference.url, timeout=10, trust_env=False) as client:
        profiles = await asyncio.gather(*(client.get(f"/users/{i}") for i in ids))
    expected = {row["id"]: dict(row) for row in rows}
    for i, response in zip(ids, profiles, strict=True):
        expected.setdefault(i, {"id": i}).update(response.raise_for_status().json())
    return expected


@exercise(__file__)
async def check_unblock_handler(module: ModuleType, lab: Lab) -> Verdict:
    import asyncpg

    from ...instruments.blocking import find_blocking

    get_user = require_coroutine_function(module, "get_user")
    source = Source.of_module(module, "01-unblock-handler")
    profile_ms = int(getattr(module, "PROFILE_MS", PROFILE_MS))
    ids = list(range(FIRST_ID, FIRST_ID + CALLS))
    expected = await _expected_users(lab, [*SINGLE_IDS, *ids])

    loop = asyncio.get_running_loop()
    default_pool = _CountingPool()
    loop.set_default_executor(default_pool)
    api = lab.api.scoped()
    acquired = [0]

    async def count_acquire(conn: Any) -> None:
        acquired[0] += 1

    client = httpx.AsyncClient(base_url=api.url, params={"ms": profile_ms}, timeout=10, trust_env=False)
    pool = await asyncpg.create_pool(lab.pg.dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, setup=count_acquire,
                                     server_settings={"application_name": "asynclab-check-01"})
    try:
        with unawaited_coroutines() as unawaited, client_constructions() as clients:
            # 1. Warm-up, with the finder on: it names the blocking calls for the verdict.
            with LoopSampler(source.path) as warm_sampler:
                async with find_blocking() as report:
                    first = await get_user(SINGLE_IDS[0], client, pool)
            named = name_blocking_lines(source, report, warm_sampler)

            # 2. One call, timed: the reference.
            with Stopwatch() as one:
                second = await get_user(SINGLE_IDS[1], client, pool)

            # 3. A few at once: a handler that blocks all the way fails here, quickly.
            with LoopSampler(source.path) as sampler:
                async with LoopMonitor() as probe:
                    await asyncio.gather(*(get_user(i, client, pool) for i in ids[:PROBE_CALLS]))
            judge_probe(Stall(PROBE_CALLS, probe.blocked_share, probe.summary(),
                              named or name_blocking_lines(source, None, sampler), clients.created))

            # 4. Fifty at once. A stall or a slow run is measured again by the worker (remeasure).
            with LoopSampler(source.path) as sampler:
                async with LoopMonitor() as monitor:
                    with Stopwatch() as many:
                        results = await asyncio.gather(*(get_user(i, client, pool) for i in ids))
        stats = await api.stats()
        # 5. An id the API answers with 404 (after the counters: it is not one of the counted calls).
        missing = await outcome_of(lambda: get_user(MISSING_ID, client, pool), within=MISSING_WITHIN)
    finally:
        await client.aclose()
        await pool.close()

    return judge(Measurement(
        stall=Stall(CALLS, monitor.blocked_share, monitor.summary(), named or name_blocking_lines(source, None, sampler),
                    clients.created),
        results={SINGLE_IDS[0]: first, SINGLE_IDS[1]: second, **dict(zip(ids, results, strict=True))},
        expected=expected, requests=int(stats["requests"]), acquired=acquired[0], unawaited=list(unawaited),
        one_call=one.seconds, many=many.seconds, default_pool_jobs=default_pool.jobs, missing=missing))
