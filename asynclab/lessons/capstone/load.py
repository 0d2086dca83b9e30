"""A bounded async load generator, and the report of what it measured.

    report = await run_load(app.url, clients=200, duration=2, rate=100, path_fn=user_path)
    print(report.summary())   # throughput, p50/p99 latency, errors, and the app's own loop lag

Why aiohttp's client and not httpx, the course's teaching client: at this concurrency httpx
0.28's connection pool costs a lot of CPU per request (notebook 04 measures it), so with httpx
the *load generator* would be what we measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .progress import Progress
from .settings import user_path

__all__ = ["LoadReport", "Probe", "Result", "percentile", "run_load"]


@dataclass
class Result:
    """One request of a load: its path, HTTP status (None when it got no answer), error, latency (s),
    and when it ended (s after the load started)."""

    index: int
    path: str
    status: int | None
    error: str | None
    latency: float
    end: float = 0.0


@dataclass
class Probe:
    """One read of `/metrics`: when (s after the start), how long it took, and what came back."""

    t: float
    rtt: float
    data: dict[str, Any] | None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class LoadReport:
    """What a `run_load` measured. Latencies are in seconds, from sending a request to its last byte.

    A request that got no answer within `timeout` counts with latency `timeout`: it is the tail,
    and leaving it out would make a hanging service look fast.
    """

    url: str
    label: str
    clients: int
    rate: float | None
    timeout: float
    elapsed: float
    results: list[Result]
    probes: list[Probe] = field(default_factory=list)
    final_metrics: dict[str, Any] | None = None
    window: float | None = None  # the planned sending time (duration=), if any

    # -- counts ----------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return len(self.results)

    @property
    def status(self) -> dict[int, int]:
        """Answers by HTTP status code."""
        return dict(sorted(Counter(r.status for r in self.results if r.status is not None).items()))

    @property
    def errors(self) -> dict[str, int]:
        """Requests without an answer, by kind ("timeout", "ServerDisconnectedError", ...)."""
        return dict(sorted(Counter(r.error for r in self.results if r.error is not None).items()))

    @property
    def ok(self) -> int:
        return sum(1 for r in self.results if r.status is not None and 200 <= r.status < 300)

    @property
    def throughput(self) -> float:
        """Successful (2xx) answers per second: over the sending window, or until the last
        success if that came later. Requests still waiting for an answer after the window (a
        hanging call) do not stretch it, so they cannot make a service that served everyone else
        look slow; a service that stopped answering gets no credit for the time it was silent."""
        ends = [r.end for r in self.results if r.status is not None and 200 <= r.status < 300]
        span = max([self.window or 0.0, *ends]) if ends else (self.window or self.elapsed)
        return self.ok / span if span > 0 else 0.0

    # -- latency ---------------------------------------------------------------------------
    @property
    def latencies(self) -> list[float]:
        return [r.latency for r in self.results]

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    # -- the service's loop, from /metrics ---------------------------------------------------
    @property
    def probes_unanswered(self) -> int:
        return sum(1 for p in self.probes if p.data is None)

    @property
    def silent_s(self) -> float:
        """Seconds spent waiting on /metrics reads that got no answer: the loop was unresponsive that long."""
        return sum(p.rtt for p in self.probes if p.data is None)

    @property
    def loop_lag(self) -> float:
        """The service's worst loop lag during the run (s): the heartbeat's own reports, and for
        a /metrics read that got no answer, how long it waited (the loop was at least that late)."""
        worst = 0.0
        for p in self.probes:
            if p.data is None:
                worst = max(worst, p.rtt)
            else:
                worst = max(worst, float(p.data.get("loop", {}).get("lag_s", 0.0)))
        return worst

    @property
    def loop_blocked_share(self) -> float | None:
        """Share of the run the service's loop spent in stalls (None without two answered reads)."""
        answered = [p for p in self.probes if p.data is not None]
        if len(answered) < 2:
            return None
        first, last = answered[0].data, answered[-1].data
        assert first is not None and last is not None
        span = float(last["uptime_s"]) - float(first["uptime_s"])
        stalled = float(last["loop"]["stalled_s"]) - float(first["loop"]["stalled_s"])
        return min(1.0, max(0.0, stalled / span)) if span > 0 else None

    def _metric_max(self, *keys: str) -> int | None:
        values = []
        for data in [p.data for p in self.probes] + [self.final_metrics]:
            value: Any = data
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, (int, float)):
                values.append(int(value))
        return max(values) if values else None

    @property
    def partner_connections_max(self) -> int | None:
        """Most connections the service held open to the partner at one /metrics read."""
        return self._metric_max("partner", "connections_open")

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """One line, the same shape whatever happened (so it reads, and diffs, the same every run)."""
        label = f"{self.label}: " if self.label else ""
        failed = self.sent - self.ok
        return (f"{label}{self.throughput:.0f} ok/s · p50 {self.p50:.3f} s · p99 {self.p99:.3f} s · "
                f"{failed} of {self.sent} not ok · loop lag {self.loop_lag:.2f} s "
                f"({self.probes_unanswered} of {len(self.probes)} /metrics reads unanswered)")


async def run_load(url: str, *, clients: int = 50, duration: float | None = None, requests: int | None = None,
                   rate: float | None = None, path_fn: Callable[[int], str] = user_path, timeout: float = 2.0,
                   metrics_path: str | None = "/metrics", metrics_every: float = 0.25, label: str = "",
                   progress: bool | Progress = True) -> LoadReport:
    """Put a bounded load on the service at `url` and measure it.

    clients   at most this many requests in flight at once (one connection each)
    duration  send for this many seconds, or
    requests  send exactly this many (with rate=None and requests=clients: one burst)
    rate      requests per second in all, spread evenly (None: each client sends again as
              soon as its answer arrives). A schedule that falls behind is never caught up by
              a flood: a request waits for a free client.
    path_fn   path of the i-th request, e.g. `user_path`
    timeout   a request with no answer after this long counts as a "timeout" (latency = timeout)
    metrics_path  read the service's /metrics every `metrics_every` s (None: don't)
    progress  show a live line (True), none (False), or use this Progress (a step's, which says
              "done" only when the whole step is)

    Returns a LoadReport: throughput (ok/s), p50/p99, status and error counts, and the service's
    loop lag as its /metrics saw it. The run ends when every request has an answer or a timeout.
    """
    import aiohttp

    if (duration is None) == (requests is None):
        raise ValueError("give exactly one of duration= or requests=")
    if clients < 1:
        raise ValueError("clients must be at least 1")
    base = url.rstrip("/")
    results: list[Result] = []
    probes: list[Probe] = []
    next_index = 0
    start = time.perf_counter()
    done = asyncio.Event()
    planned = duration if duration is not None else (requests / rate if requests is not None and rate else None)
    own_line = not isinstance(progress, Progress)
    show = Progress(label, bool(progress)) if not isinstance(progress, Progress) else progress
    show.begin(label if not own_line else "", planned)

    def take() -> int | None:
        nonlocal next_index
        i = next_index
        if requests is not None and i >= requests:
            return None
        due = i / rate if rate else 0.0
        if duration is not None and (due if rate else time.perf_counter() - start) >= duration:
            return None
        next_index += 1
        return i

    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            i = take()
            if i is None:
                return
            if rate:
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            path = path_fn(i)
            sent = time.perf_counter()
            status: int | None = None
            error: str | None = None
            try:
                async with session.get(base + path) as response:
                    await response.read()
                    status = response.status
            except TimeoutError:
                error = "timeout"
            except aiohttp.ClientError as exc:
                error = type(exc).__name__
            now = time.perf_counter()
            results.append(Result(i, path, status, error, timeout if error == "timeout" else now - sent, now - start))

    async def sample(session: aiohttp.ClientSession) -> None:
        assert metrics_path is not None
        while not done.is_set():
            t0 = time.perf_counter()
            data = await _read_metrics(session, base + metrics_path, min(1.0, timeout))
            rtt = time.perf_counter() - t0
            probes.append(Probe(t0 - start, rtt, data))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, metrics_every - rtt)):
                    await done.wait()

    async def show_progress() -> None:
        while not done.is_set():
            _progress_update(show, start, results, probes)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await done.wait()

    final: dict[str, Any] | None = None
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as probe_session:
        async with asyncio.TaskGroup() as tg:
            helpers = []
            if metrics_path is not None:
                helpers.append(tg.create_task(sample(probe_session)))
            helpers.append(tg.create_task(show_progress()))
            try:
                async with asyncio.TaskGroup() as workers:
                    for _ in range(clients):
                        workers.create_task(client(session))
            finally:
                elapsed = time.perf_counter() - start
                done.set()
        if metrics_path is not None:
            final = await _read_metrics(probe_session, base + metrics_path, min(1.0, timeout))
    results.sort(key=lambda r: r.index)
    report = LoadReport(url=base, label=label, clients=clients, rate=rate, timeout=timeout, elapsed=elapsed,
                        results=results, probes=probes, final_metrics=final, window=duration)
    if own_line:
        show.finish(f"{report.ok} of {report.sent} ok in {elapsed:.1f} s")
    return report


def _progress_update(show: Progress, start: float, results: list[Result], probes: list[Probe]) -> None:
    if not show.enabled:
        return
    t = time.perf_counter() - start
    ok = sum(1 for r in results if r.status is not None and 200 <= r.status < 300)
    lag = 0.0
    stuck = 0.0
    for p in probes[-4:]:
        lag = max(lag, p.rtt if p.data is None else float(p.data.get("loop", {}).get("lag_s", 0.0)))
    silent = 0.0
    for p in reversed(probes):
        if p.data is not None:
            break
        silent += p.rtt
    stuck = silent
    show.update(t, len(results), ok, lag, stuck)


async def _read_metrics(session: Any, url: str, timeout: float) -> dict[str, Any] | None:
    import aiohttp

    try:
        async with asyncio.timeout(timeout):
            async with session.get(url) as response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
                return data if isinstance(data, dict) and "loop" in data else None
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None
