"""The check of 03-bounded-fetch (notebook 03 · Semaphores: bounded concurrency): it measures.

`fetch_all(client, urls, limit)` against /delay with seeded jitter. The check first fetches the
same URLs itself (another scope, all at once) to learn every request's actual sleep, so its
ideal time comes from the real latencies: ceil(N / limit) × the mean sleep (judge.py explains
the bound). Last, a short call of ERROR_N URLs, one of them answering 503.
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import httpx

from ...grading.measure import Stopwatch, client_constructions, outcome_of, require_coroutine_function
from ...grading.registry import Verdict, exercise
from ...lab import Lab
from .judge import (
    ERROR_AT,
    ERROR_N,
    ERROR_STATUS,
    FETCH_LIMIT,
    FETCH_N,
    FETCH_POOL,
    Measurement,
    bounded_fetch_plan,
    judge,
    judge_error_call,
    verdict,
)

FETCH_MS = 80
FETCH_JITTER = 70  # each request sleeps 10..150 ms, seeded, so every run sees the same sleeps
FETCH_SEED = 6
ERROR_MS = 20
ERROR_WITHIN = 10.0
ERROR_QUERY = f"error?rate=1&status={ERROR_STATUS}"  # rate=1: every request fails


def client(max_connections: int) -> httpx.AsyncClient:
    """The client a check hands to the learner's code: a pool of `max_connections`."""
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=max_connections,
                                                 max_keepalive_connections=max_connections),
                             timeout=httpx.Timeout(10.0), trust_env=False)


@exercise(__file__)
async def check_bounded_fetch(module: ModuleType, lab: Lab) -> Verdict:
    fetch_all = require_coroutine_function(module, "fetch_all")
    mine, probe = lab.api.scoped(), lab.api.scoped()
    query = [f"delay?ms={FETCH_MS}&jitter={FETCH_JITTER}&seed={FETCH_SEED}&id=r{i}" for i in range(FETCH_N)]

    # Learn the real sleeps (and the right bodies) first, all at once, in a scope of our own.
    async with client(FETCH_N) as c:
        responses = await asyncio.gather(*(c.get(f"{probe.url}/{q}") for q in query))
    expected = [r.raise_for_status().text for r in responses]
    plan = bounded_fetch_plan([int(r.json()["slept_ms"]) for r in responses], FETCH_LIMIT)

    urls = [f"{mine.url}/{q}" for q in query]
    timeout = 3 * plan["bound"] + 3
    async with client(FETCH_POOL) as given:
        with client_constructions() as made, Stopwatch() as sw:
            try:
                async with asyncio.timeout(timeout):
                    results = await fetch_all(given, list(urls), FETCH_LIMIT)
            except TimeoutError:
                results = None
    stats = await mine.stats()
    peak, connections = int(stats["peak_in_flight"]), int(stats["connections"])
    timing = judge(Measurement(plan, expected, results, timeout, sw.seconds, peak, connections, made.created))
    judge_error_call(await _error_call(fetch_all, lab))
    return verdict(timing, peak, connections)


async def _error_call(fetch_all: Any, lab: Lab) -> Any:
    """fetch_all over ERROR_N URLs of which urls[ERROR_AT] answers 503: its value or its exception."""
    base = lab.api.scoped().url
    urls = [f"{base}/{ERROR_QUERY}&id=e{i}" if i == ERROR_AT else f"{base}/delay?ms={ERROR_MS}&id=e{i}"
            for i in range(ERROR_N)]
    async with client(FETCH_POOL) as given:
        return await outcome_of(lambda: fetch_all(given, urls, 3), within=ERROR_WITHIN)
