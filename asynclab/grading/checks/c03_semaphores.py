"""Checks for notebook 03 · Semaphores: bounded concurrency.

03-bounded-fetch
    `fetch_all(client, urls, limit)` against /delay with seeded jitter. The check first fetches
    the same URLs itself (another scope, all at once) to learn every request's actual sleep, so
    its ideal time comes from the real latencies: ceil(N / limit) × the mean sleep. Jitter is
    what separates a semaphore from batching: a batch of `limit` waits for its slowest member,
    so "gather over chunks" takes 1.8× the ideal with these sleeps (2.80 s for an ideal of 1.55 s)
    while a semaphore keeps every slot busy and needs 1.04× (1.62 s) before any overhead. The
    bound, 1.25× + 0.4 s = 2.34 s, sits between the two: measured, a semaphore took 1.07× to
    1.20× at load averages 4 to 7, and batching 1.8×.
    Last, a short call of ERROR_N URLs, one of them answering 503: fetch_all must raise its
    httpx.HTTPStatusError (alone or in an ExceptionGroup), not return the error's body.

03-stream-workers
    `process_stream(client, urls, limit, sink)` in three rounds.
    1. Behaviour: 200 URLs on /delay?ms=40 through an ordinary httpx client. Concurrency must be
       used (close to the ideal time), limited (server peak ≤ limit), and every URL reaches the
       sink once with its body.
    2. Scale: a lazy stream of ROUND2_N URLs on /delay?ms=1. Every URL is really fetched from the
       lab server (its request counter must match), through an httpx.AsyncClient over
       `_LeanTransport`, a minimal HTTP/1.1 keep-alive transport: httpx's own transport (httpcore)
       costs about 0.6 ms of CPU per request here, the lean one about 0.15 ms, and the API the
       learner calls (`client.get`, `.text`, `.raise_for_status()`) is unchanged.
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
    In every round the stream itself watches the learner: every time it hands out a URL it
    counts the live tasks (`asyncio.all_tasks()`) and the URLs taken but not yet sunk. Past the
    bounds it ends the stream early, so a task-per-URL answer fails in milliseconds instead of
    opening a socket per URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import httpx

from ...lab import Lab
from ..layout import ROOT as EXERCISES
from ..measure import Stopwatch, require_coroutine_function
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed
from ..submission import sized
from .c02_taskgroup import exception_leaves

# --- 03-bounded-fetch ---------------------------------------------------------------------
FETCH_N = 140
FETCH_LIMIT = 7  # not a round number, so a hard-coded Semaphore(10) or Semaphore(5) shows
FETCH_MS = 80
FETCH_JITTER = 70  # each request sleeps 10..150 ms, seeded, so every run sees the same sleeps
FETCH_SEED = 6
FETCH_POOL = 20  # the given client's max_connections: above the limit, so over-limit shows
FETCH_SLACK = 1.25
FETCH_CONSTANT = 0.4  # seconds: client start-up and scheduling noise
ERROR_N = 6  # the error call: URL ERROR_AT answers 503 at once, the others after ERROR_MS
ERROR_AT = 2
ERROR_MS = 20
ERROR_WITHIN = 10.0
ERROR_STATUS = 503
ERROR_QUERY = f"error?rate=1&status={ERROR_STATUS}"  # rate=1: every request fails

# --- 03-stream-workers ----------------------------------------------------------------------
ROUND1_N = 200
ROUND1_LIMIT = 10
ROUND1_MS = 40
ROUND2_N = 6_000  # learners and solutions; see the module docstring for why not 100,000
ROUND2_N_SMALL = 4_000  # known answers: still 2x READ_AHEAD_MAX
ROUND2_LIMIT = 12
ROUND2_MS = 1  # fast, yet long enough that `limit` requests overlap at the server
EXTRA_TASKS = 5  # live tasks allowed beyond `limit`: a producer, a supervisor, ...
READ_AHEAD_MAX = 2_000  # URLs taken from the stream but not yet sunk (a queue of maxsize 1,000 fits easily)
RETURN_GRACE = 3.0  # seconds process_stream may take to return once everything was sunk
ROUND2_DEADLINE = 60.0
ROUND3_N = 24
ROUND3_LIMIT = 4
ROUND3_FAILING = frozenset({3, 10, 11, 20})  # these URLs answer 503
ROUND3_DEADLINE = 10.0


def _spy_client_constructions() -> tuple[list[int], Any]:
    """Count httpx.AsyncClient constructions (subclasses included) until restored."""
    original = httpx.AsyncClient.__init__
    made = [0]

    def counting_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        made[0] += 1
        original(self, *args, **kwargs)

    httpx.AsyncClient.__init__ = counting_init  # type: ignore[method-assign]

    def restore() -> None:
        httpx.AsyncClient.__init__ = original  # type: ignore[method-assign]

    return made, restore


@contextlib.contextmanager
def _client_spy() -> Iterator[list[int]]:
    made, restore = _spy_client_constructions()
    try:
        yield made
    finally:
        restore()


def _client(max_connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=max_connections,
                                                 max_keepalive_connections=max_connections),
                             timeout=httpx.Timeout(10.0), trust_env=False)


def _greedy_makespan(sleeps: list[float], slots: int) -> float:
    """Time for `slots` workers taking jobs in input order, each the moment it is free."""
    free = [0.0] * slots
    for s in sleeps:
        i = min(range(slots), key=free.__getitem__)
        free[i] += s
    return max(free)


def _chunked_makespan(sleeps: list[float], size: int) -> float:
    """Time for gather over consecutive chunks of `size`: each chunk waits for its slowest."""
    return sum(max(sleeps[i:i + size]) for i in range(0, len(sleeps), size))


def bounded_fetch_plan(sleeps_ms: list[int], limit: int) -> dict[str, float]:
    """The ideal and the bound for a list of sleeps, and what a semaphore and batching would take."""
    sleeps = [ms / 1000 for ms in sleeps_ms]
    ideal = math.ceil(len(sleeps) / limit) * (sum(sleeps) / len(sleeps))
    return {
        "ideal": ideal,
        "bound": FETCH_SLACK * ideal + FETCH_CONSTANT,
        "semaphore": _greedy_makespan(sleeps, limit),
        "chunked": _chunked_makespan(sleeps, limit),
    }


@exercise(str(EXERCISES / "ex03_bounded_fetch" / "check.py"))  # hints, deadline: exercise.toml
async def check_bounded_fetch(module: ModuleType, lab: Lab) -> Verdict:
    fetch_all = require_coroutine_function(module, "fetch_all")
    mine, probe = lab.api.scoped(), lab.api.scoped()
    query = [f"delay?ms={FETCH_MS}&jitter={FETCH_JITTER}&seed={FETCH_SEED}&id=r{i}" for i in range(FETCH_N)]

    # Learn the real sleeps (and the right bodies) first, all at once, in a scope of our own.
    async with _client(FETCH_N) as c:
        responses = await asyncio.gather(*(c.get(f"{probe.url}/{q}") for q in query))
    expected = [r.raise_for_status().text for r in responses]
    plan = bounded_fetch_plan([int(r.json()["slept_ms"]) for r in responses], FETCH_LIMIT)

    urls = [f"{mine.url}/{q}" for q in query]
    timeout = 3 * plan["bound"] + 3
    async with _client(FETCH_POOL) as client:
        with _client_spy() as made, Stopwatch() as sw:
            try:
                async with asyncio.timeout(timeout):
                    results = await fetch_all(client, list(urls), FETCH_LIMIT)
            except TimeoutError:
                results = None
    stats = await mine.stats()
    peak, connections = stats["peak_in_flight"], stats["connections"]
    measured = (f"{FETCH_N} requests with limit={FETCH_LIMIT}: peak {peak} in flight at the server, "
                f"{connections} connections opened, {made[0]} new clients, {sw.seconds:.2f} s")

    if made[0] or connections > FETCH_POOL:
        raise fail(Reason.CLIENT_PER_REQUEST, "fetch_all did not use the client it was given: it made new clients.",
                   measured=measured, expected=f"0 new clients, at most {FETCH_POOL} connections (the given pool)",
                   hint="Every httpx.AsyncClient is a new connection pool (notebook 04). Call `client.get` on the "
                        "client passed in, and never create one per request.")
    if peak > FETCH_LIMIT:
        raise fail(Reason.OVER_LIMIT, f"more than limit={FETCH_LIMIT} requests were in flight at once.",
                   measured=measured, expected=f"peak in flight ≤ {FETCH_LIMIT}",
                   hint="Is there exactly ONE semaphore that every request acquires? A semaphore made inside "
                        "the per-request coroutine (or none at all) bounds nothing.")
    if results is None:
        raise fail(Reason.TOO_SLOW, f"fetch_all was still running after {timeout:.0f} s.", measured=measured,
                   expected=f"about {plan['ideal']:.2f} s (ceil({FETCH_N}/{FETCH_LIMIT}) × mean latency)",
                   hint="Are the requests running one after another? Let `limit` of them run at the same time.")
    results = list(results) if isinstance(results, (list, tuple)) else results
    if not isinstance(results, list) or len(results) != FETCH_N:
        raise fail(Reason.WRONG_RESULT, f"fetch_all should return a list of {FETCH_N} response bodies.",
                   measured=f"returned {type(results).__name__}"
                            + (f" of length {len(results)}" if hasattr(results, "__len__") else ""),
                   expected=f"a list of {FETCH_N} strings, one per URL", hint="Return `response.text` for every URL.")
    if results != expected:
        if sorted(map(str, results)) == sorted(expected):
            first = next(i for i, (a, b) in enumerate(zip(results, expected, strict=True)) if a != b)
            raise fail(Reason.WRONG_ORDER, "the bodies are all there, but not in the order of the URLs.",
                       measured=f"position {first} holds the body of another URL ({str(results[first])[:60]})",
                       expected="results[i] is the body of urls[i]",
                       hint="Completion order is not input order. Keep the tasks in a list in URL order and read "
                            "their results after the TaskGroup (or use gather, which keeps order).")
        bad = next(i for i, (a, b) in enumerate(zip(results, expected, strict=True)) if a != b)
        raise fail(Reason.WRONG_RESULT, "some results are not the response bodies.",
                   measured=f"results[{bad}] = {str(results[bad])[:80]!r}", expected=f"{expected[bad]!r}",
                   hint="Return `response.text` (a str) for each URL.")
    ratio = sw.seconds / plan["ideal"]
    timing = (f"{sw.seconds:.2f} s = {ratio:.2f}× the ideal {plan['ideal']:.2f} s "
              f"(ceil({FETCH_N}/{FETCH_LIMIT}) × mean latency {plan['ideal'] / math.ceil(FETCH_N / FETCH_LIMIT) * 1000:.0f} ms)")
    if sw.seconds > plan["bound"]:
        raise fail(Reason.TOO_SLOW, "fetch_all took too long for its limit.", measured=f"{timing}; peak {peak} in flight",
                   expected=f"at most {FETCH_SLACK}× the ideal + {FETCH_CONSTANT} s = {plan['bound']:.2f} s "
                            f"(batches of {FETCH_LIMIT} would take about {plan['chunked']:.2f} s)",
                   hint="Batches wait for their slowest request while the other slots sit idle. With a semaphore, "
                        "a new request starts the moment any slot frees up.")
    await _judge_error_call(fetch_all, lab)
    return passed(f"in order, never more than {FETCH_LIMIT} in flight, one shared client; a {ERROR_STATUS} raised.",
                  measured=f"{timing}; peak {peak} in flight; {connections} connections")


async def _judge_error_call(fetch_all: Any, lab: Lab) -> None:
    """One URL of a short list answers 503: fetch_all must raise its HTTPStatusError."""
    base = lab.api.scoped().url
    urls = [f"{base}/{ERROR_QUERY}&id=e{i}" if i == ERROR_AT else f"{base}/delay?ms={ERROR_MS}&id=e{i}"
            for i in range(ERROR_N)]
    async with _client(FETCH_POOL) as client:
        try:
            async with asyncio.timeout(ERROR_WITHIN):
                value = await fetch_all(client, urls, 3)
        except Exception as exc:
            if any(isinstance(e, httpx.HTTPStatusError) and e.response.status_code == ERROR_STATUS
                   for e in exception_leaves(exc)):
                return
            measured = f"raised {type(exc).__name__}: {str(exc)[:100]}"
        else:
            if isinstance(value, list) and len(value) > ERROR_AT:
                measured = f"returned a list whose [{ERROR_AT}] is the error's body: {str(value[ERROR_AT])[:80]!r}"
            else:
                measured = f"returned {str(value)[:100]}"
    raise fail(Reason.STATUS_UNCHECKED, f"one of {ERROR_N} URLs answered {ERROR_STATUS}, and fetch_all did not raise "
               "httpx.HTTPStatusError.", measured=f"urls[{ERROR_AT}] answered {ERROR_STATUS}; fetch_all {measured}",
               expected="httpx.HTTPStatusError (alone or in an ExceptionGroup) for any 4xx or 5xx answer",
               hint="Call `response.raise_for_status()` before returning `response.text`: the body of a 503 is a "
                    "string too, and a caller would take it for the page.")


# --- 03-stream-workers ----------------------------------------------------------------------

class _LeanTransport(httpx.AsyncBaseTransport):
    """Minimal HTTP/1.1 keep-alive GET transport for the lab API (see the module docstring).

    Connections are capped at `max_connections` (well above the exercise's limit, so that
    going over the limit still shows at the server); idle ones are reused, newest first.
    """

    def __init__(self, max_connections: int) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._all: set[asyncio.StreamWriter] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if request.method != "GET" or url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"the check's client only sends plain GETs, not {request.method} {url}")
        target = url.raw_path.decode("ascii")
        head = f"GET {target} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n\r\n".encode("ascii")
        async with self._slots:
            if self._idle:
                reader, writer = self._idle.pop()
            else:
                try:
                    reader, writer = await asyncio.open_connection(url.host, url.port)
                except OSError as exc:
                    raise httpx.ConnectError(str(exc), request=request) from exc
                self._all.add(writer)
            reusable = False
            try:
                writer.write(head)
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                headers: list[tuple[str, str]] = []
                length = 0
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        value = value.strip()
                        headers.append((name, value))
                        if name.lower() == "content-length":
                            length = int(value)
                body = await reader.readexactly(length) if length else b""
                reusable = True
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise httpx.ReadError(str(exc), request=request) from exc
            finally:
                if reusable:
                    self._idle.append((reader, writer))
                else:
                    self._all.discard(writer)
                    writer.close()
        return httpx.Response(status, headers=headers, content=body)

    async def aclose(self) -> None:
        for writer in self._all:
            writer.close()
        self._all.clear()
        self._idle.clear()


class _Stream:
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


async def _sampler(stream: _Stream) -> None:
    """Also look between URLs: code may create tasks while the stream is not being read."""
    while True:
        stream.observe()
        await asyncio.sleep(0.005)


_NOT_RETURNED = object()


async def _run_round(process_stream: Any, client: httpx.AsyncClient, stream_args: dict[str, Any],
                     lab: Lab, deadline: float) -> tuple[_Stream, Any, float, dict[str, Any], int, int]:
    """Run process_stream once; return the stream, its result (or _NOT_RETURNED), the seconds it
    took, the server's counters for the round, how many tasks it left running and how many
    httpx.AsyncClient it constructed."""
    scope = lab.api.scoped()
    before = set(asyncio.all_tasks())
    stream = _Stream(scope.url, **stream_args)
    sampler = asyncio.create_task(_sampler(stream))
    made, restore = _spy_client_constructions()
    task = asyncio.ensure_future(process_stream(client, stream, stream.limit, stream.sink))
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
        result: Any = _NOT_RETURNED
        # An exception of the learner's code propagates (a "crashed" verdict), unless the stream was
        # cut short for a violation and the code stumbled over it: then the violation is the verdict.
        if task.done() and (stream.violation is None or task.cancelled() or task.exception() is None):
            result = task.result()
    finally:
        sampler.cancel()
        if not task.done():
            task.cancel()
        await asyncio.sleep(0.05)  # let cancelled and finishing tasks end
        restore()
    leaked = [t for t in asyncio.all_tasks() if t not in before and not t.done() and not t.get_name().startswith("anyio.")]
    stats = await scope.stats()
    return stream, result, seconds, stats, len(leaked), made[0]


async def _cancel_leftovers(keep: set[asyncio.Task[Any]]) -> None:
    others = [t for t in asyncio.all_tasks() if t not in keep and not t.done()]
    for t in others:
        t.cancel()
    if others:
        await asyncio.wait(others, timeout=2)


def _judge(stream: _Stream, result: Any, seconds: float, stats: dict[str, Any], leaked: int, made: int,
           pool: int, what: str) -> str:
    """Raise the failing verdict for one round, or return a line of what was measured."""
    limit = stream.limit
    measured = (f"{what}: {stream.pulled:,} URLs taken, {stream.sunk:,} sunk, peak {stream.peak_tasks} live tasks, "
                f"peak {stats['peak_in_flight']} in flight, {seconds:.2f} s")
    if made or stats["connections"] > pool:
        raise fail(Reason.CLIENT_PER_REQUEST, "process_stream did not use the client it was given: it made new clients.",
                   measured=f"{made} new httpx.AsyncClient, {stats['connections']} connections",
                   expected=f"0 new clients, at most {pool} connections",
                   hint="Use the `client` argument for every request; a client per request is a pool per request.")
    if stream.violation == "too-many-tasks":
        raise fail(Reason.TOO_MANY_TASKS, f"{stream.peak_tasks} tasks were alive at once for limit={limit}; the task count "
                   "must not grow with the stream. The check stopped the stream early.", measured=measured,
                   expected=f"at most limit + {EXTRA_TASKS} = {limit + EXTRA_TASKS} live tasks, however long the stream",
                   hint="A stream may never end, so you cannot create a task per URL. Start `limit` workers that "
                        "take URLs from a bounded asyncio.Queue (or acquire a semaphore BEFORE creating each task).")
    if stream.violation == "unbounded-buffer":
        raise fail(Reason.UNBOUNDED_BUFFER, f"your code took {stream.peak_read_ahead:,} URLs from the stream before "
                   "processing them: it buffers the stream in memory. The check stopped the stream early.",
                   measured=f"{what}: {stream.peak_read_ahead:,} URLs taken but not yet sunk at the peak, "
                            f"{stream.peak_tasks} live tasks", expected=f"at most {READ_AHEAD_MAX:,} URLs taken but not yet sunk",
                   hint="Do not read the whole stream into a list (or an unbounded queue). Use "
                        "asyncio.Queue(maxsize=...) so the producer waits while the workers are busy.")
    if stats["peak_in_flight"] > limit:
        raise fail(Reason.OVER_LIMIT, f"more than limit={limit} requests were in flight at once.", measured=measured,
                   expected=f"peak in flight ≤ {limit}",
                   hint="Start exactly `limit` workers (or one shared Semaphore(limit)), and let each do one request at a time.")
    if result is _NOT_RETURNED:
        if stream.exhausted_at is not None and stream.sunk >= stream.good:
            raise fail(Reason.TIMEOUT, f"every URL was processed, but process_stream did not return within "
                       f"{RETURN_GRACE:.0f} s of the stream's end.", measured=measured,
                       expected="return the count once the stream ends and the workers finish",
                       hint="Workers that loop `while True: await queue.get()` never stop by themselves. Put one "
                            "sentinel (None) per worker into the queue at the end, or cancel them after `queue.join()`.")
        if time.monotonic() - stream.last_sink < 2.0:  # still making progress: slow, not stuck
            raise fail(Reason.TOO_SLOW, f"process_stream was still working after {seconds:.0f} s.", measured=measured,
                       expected=f"all {stream.n:,} URLs processed, `limit` at a time",
                       hint="Are the requests running one after another? Let `limit` of them run at the same time.")
        raise fail(Reason.TIMEOUT, f"process_stream stopped making progress and did not finish within {seconds:.0f} s.",
                   measured=measured, expected=f"all {stream.n:,} URLs processed",
                   hint="Something waits forever: does every worker get a URL or a stop signal?")
    if stream.sunk_failed:
        raise fail(Reason.STATUS_UNCHECKED, f"{stream.sunk_failed} URL(s) that answered {ERROR_STATUS} reached the sink "
                   "with the error's body.", measured=measured,
                   expected=f"the {len(stream.failing)} failed URLs logged and skipped: not sunk, not counted",
                   hint="Call `response.raise_for_status()` before the sink, catch httpx.HTTPError in the worker, log "
                        "it and go on with the next URL.")
    if stream.bad_body is not None:
        url, body = stream.bad_body
        raise fail(Reason.WRONG_RESULT, "the sink got something other than the URL and its response body.",
                   measured=f"sink({url!r}, {body})", expected="await sink(url, response.text)",
                   hint="Call the sink with the URL you fetched and that response's text.")
    if stream.missing or stream.duplicates:
        raise fail(Reason.LOST_URLS, f"{stream.missing:,} URLs never reached the sink, {stream.duplicates:,} reached it twice.",
                   measured=measured, expected=f"each of the {stream.good:,} URLs that answer 200 sunk exactly once",
                   hint="Every URL taken from the stream must be fetched and sunk once; do workers stop too early?")
    if stats["requests"] != stream.n:
        raise fail(Reason.LOST_URLS, "the server did not see one request per URL.",
                   measured=f"{stats['requests']:,} requests for {stream.n:,} URLs", expected=f"{stream.n:,} requests",
                   hint="Fetch each URL exactly once.")
    if result != stream.good:
        raise fail(Reason.WRONG_RESULT, "process_stream should return how many URLs it processed.",
                   measured=f"returned {result!r}" + (f" for {stream.n} URLs of which {len(stream.failing)} failed"
                                                      if stream.failing else ""),
                   expected=f"{stream.good}", hint="Count the sink calls and return the count.")
    if leaked:
        raise fail(Reason.LEAKED_TASKS, f"{leaked} task(s) were still running after process_stream returned.",
                   measured=measured, expected="no task left behind",
                   hint="Stop the workers before returning: a sentinel per worker, or cancel them (a TaskGroup does it for you).")
    return measured


@exercise(str(EXERCISES / "ex03_stream_workers" / "check.py"))  # hints, deadline: exercise.toml
async def check_stream_workers(module: ModuleType, lab: Lab) -> Verdict:
    process_stream = require_coroutine_function(module, "process_stream")
    keep = set(asyncio.all_tasks())

    # Round 1: behaviour, with real latency, through an ordinary httpx client.
    pool1 = ROUND1_LIMIT + 10
    ideal = math.ceil(ROUND1_N / ROUND1_LIMIT) * ROUND1_MS / 1000
    bound = 2 * ideal + 0.5
    async with _client(pool1) as client:
        try:  # stopped at twice the bound: it fails as too slow by then anyway (sequential code takes 10x)
            stream, result, seconds, stats, leaked, made = await _run_round(
                process_stream, client, {"n": ROUND1_N, "limit": ROUND1_LIMIT, "query": f"ms={ROUND1_MS}"},
                lab, deadline=2 * bound)
        finally:
            await _cancel_leftovers(keep)
    round1 = _judge(stream, result, seconds, stats, leaked, made, pool1, f"round 1 ({ROUND1_N} URLs, limit {ROUND1_LIMIT})")
    if seconds > bound:
        raise fail(Reason.TOO_SLOW, f"{ROUND1_N} URLs of {ROUND1_MS} ms with limit={ROUND1_LIMIT} took too long.",
                   measured=f"{seconds:.2f} s, {seconds / ideal:.1f}× the ideal {ideal:.2f} s; "
                            f"peak {stats['peak_in_flight']} in flight",
                   expected=f"at most 2× the ideal + 0.5 s = {bound:.2f} s",
                   hint="Are the requests running one at a time? `limit` of them may run together.")

    # Round 2: scale. Thousands of real requests through the lean transport.
    pool2 = ROUND2_LIMIT + 10
    n2 = sized(full=ROUND2_N, small=ROUND2_N_SMALL)
    async with httpx.AsyncClient(transport=_LeanTransport(pool2), timeout=httpx.Timeout(10.0)) as client:
        try:
            stream, result, seconds, stats, leaked, made = await _run_round(
                process_stream, client, {"n": n2, "limit": ROUND2_LIMIT, "query": f"ms={ROUND2_MS}"},
                lab, deadline=ROUND2_DEADLINE)
        finally:
            await _cancel_leftovers(keep)
    round2 = _judge(stream, result, seconds, stats, leaked, made, pool2, f"round 2 ({n2:,} URLs, limit {ROUND2_LIMIT})")

    # Round 3: failed URLs are logged and skipped; the stream goes on.
    round3 = await _failures_round(process_stream, lab, keep)
    return passed(f"every URL processed, never more than limit in flight, at most limit + {EXTRA_TASKS} tasks; "
                  f"failed URLs skipped.", measured=f"{round1}; {round2}; {round3}")


async def _failures_round(process_stream: Any, lab: Lab, keep: set[asyncio.Task[Any]]) -> str:
    pool = ROUND3_LIMIT + 10
    what = f"round 3 ({ROUND3_N} URLs, {len(ROUND3_FAILING)} answering {ERROR_STATUS})"
    async with _client(pool) as client:
        try:
            stream, result, seconds, stats, leaked, made = await _run_round(
                process_stream, client, {"n": ROUND3_N, "limit": ROUND3_LIMIT, "query": "ms=5", "failing": ROUND3_FAILING},
                lab, deadline=ROUND3_DEADLINE)
        except Exception as exc:
            first = exception_leaves(exc)[0]
            inside = f" of {type(first).__name__}" if first is not exc else ""
            raise fail(Reason.ERROR_ENDS_STREAM, f"a URL that answered {ERROR_STATUS} ended process_stream: the error came out "
                       "of it.", measured=f"{what}: process_stream raised {type(exc).__name__}{inside}: {str(first)[:100]}",
                       expected="a failed URL is logged and skipped, and the stream goes on",
                       hint="Catch httpx.HTTPError around the request in the worker, log it and take the next URL: an "
                            "exception out of a worker ends the whole TaskGroup.") from None
        finally:
            await _cancel_leftovers(keep)
    return _judge(stream, result, seconds, stats, leaked, made, pool, what)
