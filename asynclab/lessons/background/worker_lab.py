"""Worker processes for a crash test: start them, read their event logs, SIGKILL one mid-job.

    async with WorkerLab(dsn, schema) as wl:
        a = await wl.start("A")                  # a worker process running the lab's `work`
        await wl.wait_ready(["A"])
        ...enqueue jobs {"n": 0..19}...
        victim = await wl.wait_for_victim(10)    # the worker holding job VICTIM, mid-job
        victim.kill()                            # SIGKILL: no cleanup, no finally
        await wl.wait_done(range(20), within=8)

Job `victim` blocks on its first attempt until its worker is killed, so the kill always lands
mid-job. The check of exercise 06-durable-worker also names a `long` job (longer than the lease:
a heartbeat must renew it), a `steal` job (its handler waits while the check takes the row over:
a fenced completion must leave it alone) and a `poison` job (its handler always raises: retried
up to MAX_ATTEMPTS, then 'failed'). The processes run `asynclab.lessons.background.worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .durable_queue import LEASE_ENV
from .events import Event, read_events

if TYPE_CHECKING:
    from ...instruments.timeline import Timeline

__all__ = ["DSN_ENV", "LAB_WORK", "PROGRAM", "WorkerLab", "WorkerProcess"]

DSN_ENV = "ASYNCLAB_N06_DSN"  # the DSN reaches worker processes through the environment, not argv
PROGRAM = __name__.rsplit(".", 1)[0] + ".worker"  # what the processes run: python -m PROGRAM
LAB_WORK = __name__.rsplit(".", 1)[0] + ".durable_queue"  # the module whose `work` they run, unless told another


class WorkerProcess:
    """A worker process started by `WorkerLab.start`."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, folder: Path) -> None:
        self.name = name
        self.process = process
        self._folder = folder
        self.killed_at: float | None = None  # time.time() of the SIGKILL

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        """SIGKILL (TerminateProcess on Windows): the process gets no chance to clean up."""
        if self.alive:
            self.killed_at = time.time()
            self.process.kill()

    def request_stop(self) -> None:
        """Set the worker's `stop` event (through a file it watches); returns at once."""
        if self._folder.exists():
            (self._folder / f"{self.name}.stop").touch()

    async def stop(self, timeout: float = 3.0) -> bool:
        """Ask the worker to stop (its `stop` event is set); True if it exited within `timeout`, else it is killed."""
        if not self.alive:
            return True
        self.request_stop()
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
            return True
        except TimeoutError:
            self.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self.process.wait()
            return False

    def output(self) -> str:
        path = self._folder / f"{self.name}.out"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"exited {self.process.returncode}"
        return f"<WorkerProcess {self.name} pid={self.pid} {state}>"


class WorkerLab:
    """Worker processes, their event logs, and a clean end: every worker still alive at exit is killed."""

    def __init__(self, dsn: str = "", schema: str = "public", *, victim: int = 6, handler_ms: int = 100,
                 lease_seconds: float | None = None, long: int = -1, long_ms: int = 0, poison: int = -1,
                 steal: int = -1) -> None:
        self.dsn = dsn
        self.schema = schema
        self.victim = victim
        self.handler_ms = handler_ms
        self.lease_seconds = lease_seconds
        self.specials = ["--long", str(long), "--long-ms", str(long_ms), "--poison", str(poison), "--steal", str(steal)]
        self.workers: dict[str, WorkerProcess] = {}
        self.folder = Path(tempfile.mkdtemp(prefix="asynclab-n06-"))
        self.wall0 = time.time()
        self._timeline: Timeline | None = None

    async def __aenter__(self) -> WorkerLab:
        from ...instruments.timeline import Timeline

        self._timeline = Timeline().__enter__()
        self.wall0 = time.time()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for worker in self.workers.values():
                worker.kill()
            for worker in self.workers.values():
                with contextlib.suppress(TimeoutError, ProcessLookupError):
                    async with asyncio.timeout(5):
                        await worker.process.wait()
        finally:
            if self._timeline is not None:
                self._timeline.__exit__(None, None, None)
            self._events_at_exit = read_events(self.folder)
            shutil.rmtree(self.folder, ignore_errors=True)

    async def start(self, name: str, mode: str = "durable", *, module: str = LAB_WORK, path: str = "",
                    jobs: int = 20) -> WorkerProcess:
        """Start one worker process: `durable` runs `module.work` on this lab's schema; `memory` holds
        `jobs` jobs in its own asyncio.Queue."""
        env = {**os.environ, DSN_ENV: self.dsn, "PYTHONUNBUFFERED": "1"}
        if self.lease_seconds is not None:
            env[LEASE_ENV] = str(self.lease_seconds)
        cmd = [sys.executable, "-m", PROGRAM, mode, "--name", name, "--events", str(self.folder),
               "--module", module, "--schema", self.schema, "--victim", str(self.victim),
               "--handler-ms", str(self.handler_ms), "--jobs", str(jobs), "--parent-pid", str(os.getpid()),
               *self.specials]
        if path:
            cmd += ["--path", path]
        with open(self.folder / f"{name}.out", "wb") as out:
            process = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                                                           stderr=asyncio.subprocess.STDOUT, env=env,
                                                           cwd=path or None)
        worker = WorkerProcess(name, process, self.folder)
        self.workers[name] = worker
        return worker

    def events(self) -> list[Event]:
        if not self.folder.exists():
            return list(getattr(self, "_events_at_exit", []))
        return read_events(self.folder)

    async def wait_until(self, predicate: Callable[[list[Event]], bool], within: float) -> bool:
        """Poll the event logs until `predicate(events)` holds (True) or `within` seconds pass (False).

        It also gives up early once every worker has exited."""
        deadline = time.monotonic() + within
        while True:
            events = self.events()
            if predicate(events):
                return True
            if time.monotonic() > deadline or (self.workers and not any(w.alive for w in self.workers.values())):
                return predicate(self.events())
            await asyncio.sleep(0.02)

    async def wait_ready(self, names: Iterable[str], within: float = 15.0) -> bool:
        wanted = set(names)
        return await self.wait_until(lambda ev: wanted <= {e.worker for e in ev if e.kind == "ready"}, within)

    async def wait_for_victim(self, within: float) -> WorkerProcess | None:
        """The worker whose handler now holds the victim job, or None if none took it in time."""
        if not await self.wait_until(lambda ev: any(e.kind == "victim" for e in ev), within):
            return None
        event = next(e for e in self.events() if e.kind == "victim")
        return self.workers.get(event.worker)

    def release_steal(self) -> None:
        """Let the steal job's handler return (it waits for this file)."""
        if self.folder.exists():
            (self.folder / "steal-go").touch()

    def starts(self, n: int) -> list[Event]:
        """Every handler start of job n."""
        return [e for e in self.events() if e.kind == "start" and e.n == n]

    async def wait_done(self, numbers: Iterable[int], within: float) -> bool:
        wanted = set(numbers)
        return await self.wait_until(lambda ev: wanted <= {e.n for e in ev if e.kind == "done"}, within)

    def done_counts(self) -> Counter[int]:
        """How many times each job number was completed (a handler ran to its end)."""
        return Counter(e.n for e in self.events() if e.kind == "done" and e.n is not None)

    def attempts(self) -> list[tuple[int, str, float, float | None, str]]:
        """(n, worker, start, end, outcome) for each handler run; times in seconds since the lab started.

        outcome is "ok", "killed" (its worker was SIGKILLed first) or "running"."""
        runs: list[tuple[int, str, float, float | None, str]] = []
        open_runs: dict[tuple[str, int], int] = {}
        for e in self.events():
            if e.n is None:
                continue
            if e.kind == "start":
                open_runs[(e.worker, e.n)] = len(runs)
                runs.append((e.n, e.worker, e.t - self.wall0, None, "running"))
            elif e.kind == "done" and (e.worker, e.n) in open_runs:
                i = open_runs.pop((e.worker, e.n))
                n, w, start, _, _ = runs[i]
                runs[i] = (n, w, start, e.t - self.wall0, "ok")
        for (worker, _), i in open_runs.items():
            killed_at = self.workers[worker].killed_at if worker in self.workers else None
            if killed_at is not None:
                n, w, start, _, _ = runs[i]
                runs[i] = (n, w, start, killed_at - self.wall0, "killed")
        return runs

    def max_overlap(self, exclude_victim: bool = False) -> int:
        """The most handlers running at the same moment, across all workers."""
        now = time.time() - self.wall0
        points: list[tuple[float, int]] = []
        for n, _, start, end, _ in self.attempts():
            if exclude_victim and n == self.victim:
                continue
            points += [(start, 1), ((end if end is not None else now), -1)]
        running = peak = 0
        for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
            running += delta
            peak = max(peak, running)
        return peak

    def timeline(self) -> Timeline:
        """The handler runs as a Timeline (one bar per attempt), for `plot_timeline`."""
        from ...instruments.timeline import Span, Timeline

        tl = self._timeline if self._timeline is not None else Timeline()
        tl.spans = []
        for n, worker, start, end, outcome in sorted(self.attempts(), key=lambda r: (r[2], r[0])):
            tl.spans.append(Span(name=f"job {n:>2} · worker {worker}", start=start, end=end,
                                 outcome={"ok": "ok", "killed": "error"}.get(outcome, "running"),
                                 error="worker killed" if outcome == "killed" else None))
        return tl
