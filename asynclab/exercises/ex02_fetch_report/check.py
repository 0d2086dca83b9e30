"""The check of 02-fetch-report (notebook 02 · TaskGroup: structured concurrency): it measures.

`fetch_report(client, urls) -> dict[str, str | Exception]`: every outcome, as fast as the
slowest request, and cancelling the caller cancels everything. Like 02-fetch-all, the check
watches the lab's HTTP API from the server side: a request really cancelled shows up there as a
disconnect, one left running as in-flight. judge.py gives the verdicts; instructor.md lists them.
"""

from __future__ import annotations

import asyncio
import time
from types import ModuleType

import httpx

from ...grading.measure import Stopwatch, poll_until, require_coroutine_function
from ...grading.registry import Verdict, exercise
from ...lab import Lab
from ..ex02_fetch_all.check import ended, fast_urls
from ..ex02_fetch_all.judge import N_SLOW
from .judge import FAST_MS, SLOW_MS, CancelRun, judge_cancel, judge_raised, judge_report, verdict

N_ERRORS = 2
CANCEL_AFTER_MIN = 0.3  # the check waits at least this long (and until the server sees every request) before cancelling
SETTLE = 1.0  # seconds the server gets to see the requests running, and then to see them go
POLL = 0.05


@exercise(__file__)
async def check_fetch_report(module: ModuleType, lab: Lab) -> Verdict:
    fetch_report = require_coroutine_function(module, "fetch_report")
    api = lab.api.scoped()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        # 1. A mix of successes and failures: every URL maps to its body or its exception.
        good = fast_urls(api, "ok")[:8]
        bad = [f"{api.url}/error?rate=1&ms={FAST_MS}&id=bad{i}" for i in range(N_ERRORS)]
        urls = good[:3] + bad[:1] + good[3:6] + bad[1:] + good[6:]
        with Stopwatch() as sw:
            try:
                report = await fetch_report(client, urls)
            except Exception as exc:
                judge_raised(exc, len(urls))
        slowest = judge_report(report, urls, good, bad, sw.seconds)

        # 2. Cancel the caller mid-flight: CancelledError out, and every request stopped.
        await api.reset()
        slow = [f"{api.url}/delay?ms={SLOW_MS}&id=slow{i}" for i in range(N_SLOW)]
        quick = f"{api.url}/delay?ms=20&id=quick"
        started = time.monotonic()
        task = asyncio.ensure_future(fetch_report(client, [quick] + slow))
        in_flight = 0
        while time.monotonic() - started < SETTLE:  # wait until the server sees the slow requests running
            await asyncio.sleep(POLL)
            in_flight = int((await api.stats())["in_flight"])
            if in_flight >= N_SLOW and time.monotonic() - started >= CANCEL_AFTER_MIN:
                break
        run = CancelRun(early=ended(task) if task.done() else None, cancelled_at=time.monotonic() - started,
                        in_flight_at_cancel=in_flight)
        if run.early is None:
            cancelled_at = time.monotonic()
            task.cancel()
            await asyncio.wait({task}, timeout=SLOW_MS / 1000 + 1.5)
            run.after = time.monotonic() - cancelled_at
            run.ended = ended(task)
            if run.ended.cancelled:
                run.stats = await poll_until(api.stats, lambda s: s["in_flight"] == 0, within=SETTLE)
                run.since_cancel = time.monotonic() - cancelled_at
    return verdict(sw.seconds, slowest, judge_cancel(run))
