"""The check of 02-fetch-all (notebook 02 · TaskGroup: structured concurrency): it measures.

`fetch_all(client, urls) -> list[str]`: in order, as fast as the slowest request, and on a
failure the error comes out and every sibling request is cancelled. The check watches the lab's
HTTP API from the server side (a scoped handle, so concurrent checks never mix counts): a
request that was really cancelled shows up there as a disconnect, and one that was left running
as in-flight. That is what separates "the error was raised" from "the error was raised and the
other requests stopped". judge.py gives the verdicts; instructor.md lists them in order.
"""

from __future__ import annotations

import asyncio
import time
from types import ModuleType

import httpx

from ...grading.measure import Stopwatch, poll_until, require_coroutine_function
from ...grading.registry import Verdict, exercise
from ...lab import Lab
from ...services.api_client import ApiHandle
from .judge import (
    ERROR_MS,
    N_FAST,
    N_SLOW,
    RAISE_WITHIN,
    Ended,
    FailureRun,
    judge_bodies,
    judge_failure,
    judge_too_early,
    verdict,
)

FAST_MS, FAST_JITTER, SEED = 150, 100, 7
SLOW_MS = 2500  # slow siblings that would still be running long after the verdict
SETTLE = 1.0  # seconds the server gets to see the cancelled requests go


def fast_urls(api: ApiHandle, prefix: str) -> list[str]:
    """N_FAST /delay URLs of 150 ± 100 ms (seeded), with ids prefix0..prefix9."""
    return [f"{api.url}/delay?ms={FAST_MS}&jitter={FAST_JITTER}&seed={SEED}&id={prefix}{i}" for i in range(N_FAST)]


def ended(task: asyncio.Future[object]) -> Ended:
    """How the task ended (its exception retrieved, so asyncio does not complain)."""
    if not task.done():
        return Ended(running=True)
    if task.cancelled():
        return Ended(cancelled=True)
    error = task.exception()
    return Ended(error=error) if error is not None else Ended(value=task.result())


@exercise(__file__)
async def check_fetch_all(module: ModuleType, lab: Lab) -> Verdict:
    fetch_all = require_coroutine_function(module, "fetch_all")
    api = lab.api.scoped()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        # 1. Every request succeeds: the bodies, in input order, in about the time of the slowest.
        with Stopwatch() as sw:
            try:
                result = await fetch_all(client, fast_urls(api, "r"))
            except Exception as exc:  # other errors than InvalidStateError go to the worker's "crashed"
                judge_too_early(exc, "fetch_all")
                raise
        slowest = judge_bodies(result, sw.seconds)

        # 2. One request fails fast among slow ones: the error comes out, and the slow ones stop.
        slow = [f"{api.url}/delay?ms={SLOW_MS}&id=slow{i}" for i in range(N_SLOW)]
        failing = f"{api.url}/error?rate=1&ms={ERROR_MS}&id=boom"
        await api.reset()
        started = time.monotonic()
        task = asyncio.ensure_future(fetch_all(client, slow[:2] + [failing] + slow[2:]))
        done, _ = await asyncio.wait({task}, timeout=RAISE_WITHIN + ERROR_MS / 1000)
        took = time.monotonic() - started
        if not done:
            stats = await api.stats()
            await asyncio.wait({task}, timeout=SLOW_MS / 1000 + 1.5)  # see how it ends
            run = FailureRun(took, False, ended(task), ended_after=time.monotonic() - started,
                             in_flight_then=int(stats["in_flight"]))
            task.cancel()
            await asyncio.wait({task}, timeout=2)
        else:
            run = FailureRun(took, True, ended(task))
            if run.ended.error is not None:
                run.stats = await poll_until(api.stats, lambda s: s["in_flight"] == 0, within=SETTLE)
                run.settled = time.monotonic() - started - took
    return verdict(sw.seconds, slowest, judge_failure(run))
