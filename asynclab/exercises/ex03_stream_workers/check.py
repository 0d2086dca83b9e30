"""The check of 03-stream-workers (notebook 03 · Semaphores: bounded concurrency): it measures.

`process_stream(client, urls, limit, sink)` in three rounds; judge.py gives each round's verdict.
1. Behaviour: ROUND1_N URLs on /delay?ms=40 through an ordinary httpx client. Concurrency must
   be used (close to the ideal time), limited (server peak ≤ limit), and every URL reaches the
   sink once with its body.
2. Scale: a lazy stream of ROUND2_N URLs on /delay?ms=1. Every URL is really fetched from the
   lab server (its request counter must match), through an httpx.AsyncClient over
   transport.LeanTransport (same client API, a quarter of httpcore's CPU per request).
   Why not 100,000 (the syllabus's number): measured on the course's 2-core machine, 100,000
   real requests took 20 s idle, 23 s at load average 4 and 73 s at load average 8 (other
   test runs), which breaks the notebook's 60 s budget and nbval's 120 s cell limit; 30,000
   took 6 s idle and 24 s at load 5, too long for a learner's check. The round exists for two
   failures, both caught long before its end: a task per URL at limit + 6 tasks, buffering at
   READ_AHEAD_MAX (2,000) URLs taken but not sunk. So it is 3× READ_AHEAD_MAX long (6,000
   URLs) for learners and 2× (4,000) for the known answers (`sized`): a stream swallowed into
   a list or an unbounded queue runs that far ahead of its workers within the first 2,500 URLs,
   since the stream yields only every 64 URLs and each worker sinks at most one URL in between.
3. Failures: ROUND3_N URLs, a few of which answer 503 (/error?rate=1). Each failed URL is
   skipped (not sunk, not counted) and the stream goes on: the others are all sunk and
   process_stream returns their count. A small round of its own, after the slow one.
In every round the stream itself watches the learner: every time it hands out a URL it counts
the live tasks (`asyncio.all_tasks()`) and the URLs taken but not yet sunk. Past the bounds it
ends the stream early, so a task-per-URL answer fails in milliseconds instead of opening a
socket per URL.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import httpx

from ...grading.measure import client_constructions, require_coroutine_function
from ...grading.reasons import Reason
from ...grading.registry import Verdict, exercise
from ...grading.submission import sized
from ...lab import Lab
from ..ex03_bounded_fetch.check import ERROR_QUERY, client
from ..ex03_bounded_fetch.judge import ERROR_STATUS
from .judge import (
    EXTRA_TASKS,
    READ_AHEAD_MAX,
    RETURN_GRACE,
    Round,
    judge_round,
    judge_round1_speed,
    judge_round_raised,
    verdict,
)
from .transport import LeanTransport

ROUND1_N = 200
ROUND1_LIMIT = 10
ROUND1_MS = 40
ROUND2_N = 6_000  # learners and solutions; see the module docstring for why not 100,000
ROUND2_N_SMALL = 4_000  # known answers: still 2x READ_AHEAD_MAX
ROUND2_LIMIT = 12
ROUND2_MS = 1  # fast, yet long enough that `limit` requests overlap at the server
ROUND2_DEADLINE = 60.0
ROUND3_N = 24
ROUND3_LIMIT = 4
ROUND3_FAILING = frozenset({3, 10, 11, 20})  # these URLs answer 503
ROUND3_DEADLINE = 10.0


class Stream:
    """The async iterator handed to process_stream: lazy, and watching the code that reads it."""

    def __init__(self, base: str, n: int, limit: int, query: str, failing: frozenset[int] = frozenset()) -> None:
        self.base, self.n, self.limit, self.query = base, n, limit, query
        self.failing = failing  # these URLs answer ERROR_STATUS: skipped, never sunk
        self.sunk_failed = 0
        self.not_learners: set[asyncio.Task[Any]] = set()  # tasks that existed before, and the check's own
        self.prefix = secrets.token_hex(3)
        self.pulled = 0
        self.sunk = 0
        self.seen = bytearray(n)
        self.duplicates = 0
        self.bad_body: tuple[str, str] | None = None
        self.peak_tasks = 0
        self.peak_read_ahead = 0
        self.violation: Reason | None = None
        self.exhausted_at: float | None = None
        self.last_sink = time.monotonic()

    def url(self, i: int) -> str:
        if i in self.failing:
            return f"{self.base}/{ERROR_QUERY}&id={self.prefix}-{i}"
        return f"{self.base}/delay?{self.query}&id={self.prefix}-{i}"

    def live_tasks(self) -> int:
        """Tasks the learner's code keeps alive now. Not counted: the check's own tasks, and the
        short-lived ones anyio starts inside httpx while it opens a connection (happy eyeballs)."""
        return sum(1 for t in asyncio.all_tasks()
                   if t not in self.not_learners and not t.get_name().startswith("anyio."))

    def observe(self, tasks: bool = True) -> None:
        if tasks:
            live = self.live_tasks()
            if live > self.peak_tasks:
                self.peak_tasks = live
                if live > self.limit + EXTRA_TASKS and self.violation is None:
                    self.violation = Reason.TOO_MANY_TASKS
        ahead = self.pulled - self.sunk
        if ahead > self.peak_read_ahead:
            self.peak_read_ahead = ahead
            if ahead > READ_AHEAD_MAX and self.violation is None:
                self.violation = Reason.UNBOUNDED_BUFFER

    def __aiter__(self) -> AsyncIterator[str]:
        return self._urls()

    async def _urls(self) -> AsyncIterator[str]:
        for i in range(self.n):
            self.observe(tasks=i % 8 == 0)  # counting tasks costs ~10 µs; every 8th URL is plenty
            if self.violation is not None:
                break  # end the stream early: the verdict is already known
            self.pulled += 1
            yield self.url(i)
            if i % 64 == 63:
                await asyncio.sleep(0)  # a real stream waits for its source now and then
        self.exhausted_at = time.monotonic()

    async def sink(self, url: str, body: Any) -> None:
        self.sunk += 1
        self.last_sink = time.monotonic()
        _, _, key = str(url).rpartition("&id=")
        try:
            i = int(key.rpartition("-")[2])
            known = key.startswith(self.prefix) and 0 <= i < self.n
        except ValueError:
            known = False
        if not known:
            if self.bad_body is None:
                self.bad_body = (str(url)[:80], "sink got a URL that is not from the stream")
            return
        if i in self.failing:
            self.sunk_failed += 1
            return
        if self.seen[i]:
            self.duplicates += 1
        else:
            self.seen[i] = 1
        text = body.decode() if isinstance(body, (bytes, bytearray)) else body
        if isinstance(text, dict):
            ok = text.get("id") == key
        else:
            ok = isinstance(text, str) and f'"{key}"' in text
        if not ok and self.bad_body is None:
            self.bad_body = (str(url)[:80], repr(body)[:80])

    @property
    def good(self) -> int:
        """How many URLs answer 200: what must be sunk, and counted."""
        return self.n - len(self.failing)

    @property
    def missing(self) -> int:
        return self.good - sum(self.seen)


async def _sampler(stream: Stream) -> None:
    """Also look between URLs: code may create tasks while the stream is not being read."""
    while True:
        stream.observe()
        await asyncio.sleep(0.005)


async def _run_round(process_stream: Any, given: httpx.AsyncClient, what: str, stream_args: dict[str, Any],
                     lab: Lab, deadline: float, pool: int) -> Round:
    """Run process_stream once over a fresh Stream; record what the stream, the server and this
    process saw. An exception of the learner's code propagates."""
    scope = lab.api.scoped()
    before = set(asyncio.all_tasks())
    stream = Stream(scope.url, **stream_args)
    sampler = asyncio.create_task(_sampler(stream))
    returned, result = False, None
    with client_constructions() as made:
        task = asyncio.ensure_future(process_stream(given, stream, stream.limit, stream.sink))
        stream.not_learners = before | {sampler, task}
        started = time.monotonic()
        try:
            while not task.done():
                await asyncio.wait([task], timeout=0.1)
                now = time.monotonic()
                if stream.exhausted_at is not None and stream.sunk >= stream.good and stream.violation is None \
                        and now - stream.exhausted_at > RETURN_GRACE:
                    break  # everything was done, yet it does not return
                if stream.violation is not None and now - started > 5:
                    break  # the verdict is known; do not wait for a runaway answer
                if now - started > deadline:
                    break
            seconds = time.monotonic() - started
            # An exception of the learner's code propagates (a "crashed" verdict), unless the stream was
            # cut short for a violation and the code stumbled over it: then the violation is the verdict.
            if task.done() and (stream.violation is None or task.cancelled() or task.exception() is None):
                returned, result = True, task.result()
        finally:
            sampler.cancel()
            if not task.done():
                task.cancel()
            await asyncio.sleep(0.05)  # let cancelled and finishing tasks end
    leaked = [t for t in asyncio.all_tasks() if t not in before and not t.done() and not t.get_name().startswith("anyio.")]
    stats = await scope.stats()
    return Round(what, stream.n, stream.limit, failing=len(stream.failing), pulled=stream.pulled, sunk=stream.sunk,
                 peak_tasks=stream.peak_tasks, peak_read_ahead=stream.peak_read_ahead, violation=stream.violation,
                 exhausted=stream.exhausted_at is not None, sunk_failed=stream.sunk_failed, bad_body=stream.bad_body,
                 missing=stream.missing, duplicates=stream.duplicates, returned=returned, result=result,
                 seconds=seconds, since_last_sink=time.monotonic() - stream.last_sink, stats=stats,
                 leaked=len(leaked), made=made.created, pool=pool)


async def _cancel_leftovers(keep: set[asyncio.Task[Any]]) -> None:
    others = [t for t in asyncio.all_tasks() if t not in keep and not t.done()]
    for t in others:
        t.cancel()
    if others:
        await asyncio.wait(others, timeout=2)


@exercise(__file__)
async def check_stream_workers(module: ModuleType, lab: Lab) -> Verdict:
    process_stream = require_coroutine_function(module, "process_stream")
    keep = set(asyncio.all_tasks())

    # Round 1: behaviour, with real latency, through an ordinary httpx client.
    pool1 = ROUND1_LIMIT + 10
    ideal = math.ceil(ROUND1_N / ROUND1_LIMIT) * ROUND1_MS / 1000
    async with client(pool1) as given:
        try:
            round1 = await _run_round(process_stream, given, f"round 1 ({ROUND1_N} URLs, limit {ROUND1_LIMIT})",
                                      {"n": ROUND1_N, "limit": ROUND1_LIMIT, "query": f"ms={ROUND1_MS}"},
                                      lab, deadline=2 * (2 * ideal + 0.5), pool=pool1)  # twice the bound: too slow by then anyway
        finally:
            await _cancel_leftovers(keep)
    measured1 = judge_round(round1)
    judge_round1_speed(round1, ROUND1_MS, ideal)

    # Round 2: scale: real requests through the lean transport.
    pool2 = ROUND2_LIMIT + 10
    n2 = sized(full=ROUND2_N, small=ROUND2_N_SMALL)
    async with httpx.AsyncClient(transport=LeanTransport(pool2), timeout=httpx.Timeout(10.0)) as given:
        try:
            round2 = await _run_round(process_stream, given, f"round 2 ({n2:,} URLs, limit {ROUND2_LIMIT})",
                                      {"n": n2, "limit": ROUND2_LIMIT, "query": f"ms={ROUND2_MS}"},
                                      lab, deadline=ROUND2_DEADLINE, pool=pool2)
        finally:
            await _cancel_leftovers(keep)
    measured2 = judge_round(round2)

    # Round 3: failed URLs are logged and skipped; the stream goes on.
    pool3 = ROUND3_LIMIT + 10
    what = f"round 3 ({ROUND3_N} URLs, {len(ROUND3_FAILING)} answering {ERROR_STATUS})"
    async with client(pool3) as given:
        try:
            round3 = await _run_round(process_stream, given, what, {"n": ROUND3_N, "limit": ROUND3_LIMIT, "query": "ms=5",
                                                                   "failing": ROUND3_FAILING},
                                      lab, deadline=ROUND3_DEADLINE, pool=pool3)
        except Exception as exc:
            judge_round_raised(exc, what)
        finally:
            await _cancel_leftovers(keep)
    return verdict([measured1, measured2, judge_round(round3)])
