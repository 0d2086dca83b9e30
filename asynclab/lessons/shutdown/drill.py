"""A shutdown drill: steady traffic, SIGTERM in the middle, and what each request and job became.

Why a readiness watcher: a load balancer sends traffic to an instance until its `/ready` fails.
The drill polls `/ready` the same way, so a request counts as *lost* only when it went to this
instance while the instance still looked ready and got no 2xx answer. Requests sent after
`/ready` said 503 would have gone to another replica: they count as *rerouted*.

    report = await shutdown_drill(GRACEFUL, shutdown_settings(tmpdir))
    print(report.summary())
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..capstone import AppProcess, LoadReport, Result, StopReport, run_load
from .work import JobTally, read_journal

__all__ = ["DrillReport", "ReadyWatch", "shutdown_drill", "shutdown_settings", "watch_ready", "work_path"]


def shutdown_settings(folder: str | os.PathLike[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings for the shutdown apps; the journal goes to a fresh file in `folder` (a temp dir)."""
    fd, journal = tempfile.mkstemp(prefix="asynclab-jobs-", suffix=".log", dir=folder)
    os.close(fd)
    settings: dict[str, Any] = {"work_ms": 150, "job_seconds": 0.6, "stuck_every": 10, "drain_seconds": 1.0,
                                "ready_grace": 0.5, "journal": journal}
    settings.update(overrides)
    return settings


def work_path(i: int) -> str:
    return f"/work/{i}"


@dataclass
class ReadyWatch:
    """What polling `/ready` saw, in seconds after the drill started (None: never)."""

    first_not_ready: float | None = None  # the first answer that was not 200
    first_refused: float | None = None  # the first poll that got no answer at all


async def watch_ready(url: str, t0: float, stop: asyncio.Event, every: float = 0.02) -> ReadyWatch:
    """Poll `url/ready` every `every` s on a fresh connection each time, as a health checker does.

    One client for all polls: building an httpx client costs tens of milliseconds of CPU (its SSL
    context), which every 20 ms would stall the very loop that sends the load.
    """
    seen = ReadyWatch()
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=0.5, limits=no_reuse) as client:
        while not stop.is_set() and seen.first_refused is None:
            try:
                response = await client.get(url + "/ready")
                if response.status_code != 200 and seen.first_not_ready is None:
                    seen.first_not_ready = time.perf_counter() - t0
            except httpx.HTTPError:
                seen.first_refused = time.perf_counter() - t0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await stop.wait()
    return seen


@dataclass
class DrillReport:
    load: LoadReport
    sigterm_at: float
    ready: ReadyWatch
    stop: StopReport
    jobs: JobTally
    burst_seconds: float = 0.0  # how long the warm-up burst took, if any
    log: str = ""  # the end of what the app's process wrote (its warnings, a traceback)

    def _sent_at(self, r: Result) -> float:
        return r.end - r.latency

    @property
    def routed_here(self) -> list[Result]:
        """Requests a readiness-aware load balancer would have sent here."""
        cut = self.ready.first_not_ready
        return [r for r in self.load.results if cut is None or self._sent_at(r) < cut]

    @property
    def lost(self) -> list[Result]:
        return [r for r in self.routed_here if r.status is None or not 200 <= r.status < 300]

    @property
    def rerouted(self) -> int:
        return len(self.load.results) - len(self.routed_here)

    @property
    def in_flight_at_sigterm(self) -> list[Result]:
        return [r for r in self.load.results if self._sent_at(r) < self.sigterm_at < r.end]

    def summary(self) -> str:
        def at(t: float | None) -> str:
            return "never" if t is None else f"{t - self.sigterm_at:+.2f} s"

        answered = sum(1 for r in self.in_flight_at_sigterm if r.status == 200)
        return (f"requests: {len(self.routed_here)} routed here, {len(self.lost)} lost, {self.rerouted} rerouted; "
                f"{answered} of {len(self.in_flight_at_sigterm)} in flight at SIGTERM answered 200\n"
                f"after SIGTERM: /ready not 200 {at(self.ready.first_not_ready)}, connections refused "
                f"{at(self.ready.first_refused)}, process exited after {self.stop.seconds:.2f} s "
                f"({'by itself' if self.stop.graceful else 'killed'})\n"
                f"{self.jobs.summary()}")


async def shutdown_drill(factory: str, settings: dict[str, Any], *, app_dir: str | None = None,
                         clients: int = 20, rate: float = 40.0, duration: float = 2.0, sigterm_after: float = 1.0,
                         stop_grace: float = 5.0, start_timeout: float = 25.0, burst: int = 0,
                         on_burst: Callable[[list[int | None], float], None] | None = None) -> DrillReport:
    """Serve `factory` under uvicorn, send `rate` requests/s for `duration` s, SIGTERM after
    `sigterm_after` s, wait up to `stop_grace` s for the process to exit (then kill it).

    `burst` > 0 first sends that many requests at once (job ids from BURST_IDS) and times them:
    a service whose loop is blocked answers them one after another. `on_burst(statuses, seconds)`
    may raise to stop there (a grader that has seen enough); the app is killed either way.
    """
    app = await AppProcess.start(factory, settings, app_dir=app_dir, timeout=start_timeout, graceful_timeout=5.0)
    statuses: list[int | None] = []
    burst_seconds = 0.0
    log = ""
    try:
        await _warm_up(app.url)
        if burst:
            statuses, burst_seconds = await _burst(app.url, burst)
            if on_burst is not None:
                on_burst(statuses, burst_seconds)
        stop_watch = asyncio.Event()
        load = asyncio.create_task(run_load(app.url, clients=clients, duration=duration, rate=rate,
                                            path_fn=work_path, timeout=REQUEST_TIMEOUT, metrics_path=None, progress=False,
                                            label="drill"))
        await asyncio.sleep(0)  # run_load takes its start time in its first step: one clock for all the times
        t0 = time.perf_counter()
        watcher = asyncio.create_task(watch_ready(app.url, t0, stop_watch))
        await asyncio.sleep(sigterm_after)
        sigterm_at = time.perf_counter() - t0
        stop = await app.stop(grace=stop_grace)
        async with asyncio.timeout(duration + REQUEST_TIMEOUT + 5.0):
            report = await load
        stop_watch.set()
        async with asyncio.timeout(2.0):
            ready = await watcher
    finally:
        await app.kill()
        log = app.log_tail(50)
        app.cleanup()
    return DrillReport(report, sigterm_at, ready, stop, read_journal(settings["journal"]), burst_seconds, log)


BURST_IDS = 100_000  # job ids of the warm-up burst start here, apart from the load's
# A request without an answer after this long counts as lost. Far above `work_ms`: on a busy core a
# fresh process can stall for a second or two, and a stall is not a lost request.
REQUEST_TIMEOUT = 5.0


async def _warm_up(url: str, timeout: float = 10.0) -> None:
    """One answered `/ready` before the traffic starts: the first request of a fresh process is slow."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        with contextlib.suppress(httpx.HTTPError):
            await client.get(url + "/ready")


async def _burst(url: str, n: int, timeout: float = 10.0) -> tuple[list[int | None], float]:
    async def one(client: httpx.AsyncClient, i: int) -> int | None:
        try:
            return (await client.get(f"{url}{work_path(BURST_IDS + i)}")).status_code
        except httpx.HTTPError:
            return None

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()
        async with asyncio.timeout(timeout + 1.0):
            statuses = list(await asyncio.gather(*(one(client, i) for i in range(n))))
        return statuses, time.perf_counter() - t0
