"""The loop watch every check runs under: a stall the learner's own code caused fails the check.

Why here, once, and not in each check: a course whose first lesson is "never block the loop"
must not pass an answer that blocks it, whatever the exercise measures. The worker wraps every
check in `LoopWatch`; no check has to remember it.

How a stall is pinned on the learner, and not on the check's own machinery (starting the lab,
imports, pools, subprocesses, inline reference work such as notebook 01's hashing): a sampling
thread (`LoopSampler`) looks at every thread's stack every few ms. A stack that shows a line of
the learner's exercise cell running inside one event-loop callback (asyncio's `Handle._run`) is
the learner's code holding that loop; a suspended coroutine has no frame on the stack, so awaiting
code is never seen. The same callback frame seen sample after sample is one uninterrupted hold:
the loop ran nothing else meanwhile. A hold of STALL seconds or more is a learner stall. Any loop
counts, also one a check runs in a thread of its own (notebook 05 does).

Each sample counts for the time since the previous one, capped at MAX_SAMPLE_WEIGHT: when the
whole process is descheduled (a busy machine), the sampler is too, and that time is nobody's.
On Linux a hold also leaves out the time its thread sat in the CPU run queue (the kernel's
/proc/self/task/<tid>/schedstat): on an overloaded machine, creating an httpx.AsyncClient (about
20 ms of CPU) took 0.13 s of wall time while the thread waited for a core, and that wait is the
machine's, not the learner's. A `time.sleep` waits off the run queue, so it counts in full.

Whose work is it? When the learner's line is the innermost Python frame, all of it: their own
code, or a C call they made (time.sleep, hashlib). When a library runs *under* the learner's line,
only a synchronous-I/O library counts (a sync httpx/requests/urllib3 client, psycopg's sync API,
sockets, subprocess: SYNC_IO below). `await client.get(url)` with httpcore's async pool sorting
30,000 queued requests, or waiting for the GIL, was seen holding a correct answer's loop for
0.2 s under load: that is not the lesson's "blocking call". Notebook 01's check still names CPU
work in a library itself.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType

from ..instruments.blocking import OTHER, classify
from .reasons import Reason
from .registry import CheckFailed, fail

STALL = 0.1  # seconds one callback of the learner's code may hold a loop (notebook 00: 0.1 s is felt)
# ... and the verdict: holds of STALL or more that add up to BLOCKED seconds. One borderline hold
# is not enough: on an overloaded machine, creating an httpx.AsyncClient (about 20 ms of CPU, plus
# waits for the GIL that no counter tells from a sleep) was once seen holding the loop 0.11 s.
BLOCKED = 0.15
# Holds adding up to TRIP seconds end the check at once (no need to wait for a verdict we know).
# Below that, the check runs to its end, and a deterministic failure of its own (a wrong result)
# is the verdict: every starter keeps failing for the reason its lesson is about.
TRIP = 0.5
SAMPLE_EVERY = 0.01  # the sampler's period (s); each sample takes the GIL from the code it watches
MAX_SAMPLE_WEIGHT = 4 * SAMPLE_EVERY  # a sample stands for at most this much time
POLL = 0.05  # how often the watch looks for a learner stall while the check runs
ESCALATE = 2.0  # seconds after a learner stall in which the loop must come back to end the check
CALL_RE = re.compile(r"([A-Za-z_][\w.]*)\s*\(")
_HANDLE_RUN = asyncio.events.Handle._run.__code__
# Path fragments of synchronous-I/O code: a stall with one of these innermost, under the
# learner's line, is the learner's blocking call.
SYNC_IO = ("/socket.py", "/subprocess.py", "/selectors.py", "/http/client.py", "/urllib/",
           "/urllib3/", "/requests/", "/httpcore/_sync/", "/httpcore/_backends/sync.py",
           "/psycopg/connection.py", "/psycopg/cursor.py", "/psycopg/waiting.py", "/psycopg2/", "/sqlite3/")


class Source:
    """The submission file: its lines, and the line (1-based) after which the exercise cell starts."""

    def __init__(self, path: str, offset: int) -> None:
        self.path = path
        self.offset = offset
        try:
            self.lines = Path(path).read_text(encoding="utf-8").split("\n")
        except OSError:
            self.lines = []

    @classmethod
    def of_module(cls, module: ModuleType, exercise_id: str) -> Source:
        """For a check that only has the module: the exercise cell starts at its `# Exercise:` line."""
        path = str(getattr(module, "__file__", "") or "")
        source = cls(path, 0)
        marker = f"# Exercise: {exercise_id}"
        source.offset = next((i for i, text in enumerate(source.lines) if text.strip() == marker), 0)
        return source

    def code(self, lineno: int, width: int = 48) -> str:
        text = self.lines[lineno - 1].strip() if 0 < lineno <= len(self.lines) else ""
        return text if len(text) <= width else text[: width - 1] + "…"

    def where(self, lineno: int) -> str:
        """'line 7' in the exercise cell (its `# Exercise:` line is line 1), or 'a setup cell'."""
        return f"line {lineno - self.offset}" if lineno > self.offset else "a setup cell"


@dataclass
class LearnerStall:
    """One uninterrupted hold of a loop by the learner's code."""

    seconds: float  # sampled time the learner's code held the loop in one callback
    line: int  # the learner's line seen most often during it


@dataclass
class _Hold:
    callback: FrameType  # the Handle._run frame: the same object for as long as that callback runs
    seconds: float = 0.0
    lines: Counter[int] | None = None
    sched: tuple[float, float] | None = None  # the thread's (CPU, run-queue wait) seconds at the last sample


def _schedstat(native_id: int | None) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of a thread (Linux), or None."""
    if native_id is None:
        return None
    try:
        with open(f"/proc/self/task/{native_id}/schedstat", encoding="ascii") as f:
            on_cpu, queued = f.read().split()[:2]
        return int(on_cpu) / 1e9, int(queued) / 1e9
    except (OSError, ValueError):
        return None


class LoopSampler:
    """A thread that notes which line of `path` (after `first_line`) runs inside an event-loop callback.

    Summed over samples, a line that holds a loop stands out (`seconds`, `heavy()`); healthy async
    code is caught in a sample rarely, if at all. This sees what no patch knows about: CPU work,
    C extensions, creating a client. `stalls` are the holds of STALL seconds or more.
    """

    def __init__(self, path: str, first_line: int = 0, on_tick: Callable[[], None] | None = None) -> None:
        self.path = path
        self.first_line = first_line
        self.on_tick = on_tick  # called from the sampler thread after every sample
        self.seconds: defaultdict[int, float] = defaultdict(float)
        self.stalls: list[LearnerStall] = []
        self._holds: dict[int, _Hold] = {}  # thread id -> the hold going on in it
        self._native: dict[int, int | None] = {}  # thread ident -> kernel thread id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asynclab-loop-sampler", daemon=True)

    def _inside_callback(self, frame: FrameType | None) -> tuple[int, FrameType, bool] | None:
        """(learner line, loop callback frame, it counts) when the learner's code runs on a loop in
        this stack; it counts when the learner's frame, or synchronous I/O, is the innermost."""
        line = None
        innermost = True
        own = False
        while frame is not None:
            code = frame.f_code
            if line is None and code.co_filename == self.path and frame.f_lineno > self.first_line:
                line = frame.f_lineno
                own = own or innermost
            elif innermost and any(part in code.co_filename for part in SYNC_IO):
                own = True  # a synchronous I/O call, made somewhere under the learner's line
            elif code is _HANDLE_RUN:
                return (line, frame, own) if line is not None else None
            innermost = False
            frame = frame.f_back
        return None

    def _native_id(self, ident: int) -> int | None:
        if ident not in self._native:
            self._native.update({t.ident: t.native_id for t in threading.enumerate() if t.ident is not None})
            self._native.setdefault(ident, None)
        return self._native[ident]

    def _close(self, thread_id: int) -> None:
        hold = self._holds.pop(thread_id, None)
        if hold is not None and hold.seconds >= STALL and hold.lines:
            self.stalls.append(LearnerStall(hold.seconds, hold.lines.most_common(1)[0][0]))

    def _run(self) -> None:
        me = threading.get_ident()
        last = time.monotonic()
        while not self._stop.wait(SAMPLE_EVERY):
            now = time.monotonic()
            weight = min(now - last, MAX_SAMPLE_WEIGHT)
            last = now
            frames = sys._current_frames()
            try:
                for thread_id, frame in frames.items():
                    found = self._inside_callback(frame) if thread_id != me else None
                    hold = self._holds.get(thread_id)
                    if found is None:
                        if hold is not None:
                            self._close(thread_id)
                        continue
                    line, callback, own = found
                    self.seconds[line] += weight
                    if hold is None or hold.callback is not callback:
                        self._close(thread_id)
                        hold = self._holds[thread_id] = _Hold(callback, lines=Counter())
                    sched = _schedstat(self._native_id(thread_id))
                    queued = sched[1] - hold.sched[1] if sched is not None and hold.sched is not None else 0.0
                    hold.sched = sched
                    if own:  # all but the time the thread waited for a CPU
                        hold.seconds += max(0.0, weight - queued)
                    assert hold.lines is not None
                    hold.lines[line] += 1
                for thread_id in [t for t in self._holds if t not in frames]:
                    self._close(thread_id)
            finally:
                frames = frame = None  # type: ignore[assignment]
            if self.on_tick is not None:
                self.on_tick()

    def __enter__(self) -> LoopSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for thread_id in list(self._holds):
            self._close(thread_id)

    def heavy(self, at_least: float = 0.02) -> list[tuple[int, float]]:
        """(line, seconds) of every line seen holding a loop for `at_least` seconds in total."""
        return [(line, s) for line, s in sorted(self.seconds.items(), key=lambda item: -item[1]) if s >= at_least]


class LoopWatch:
    """`async with LoopWatch(path, offset) as watch: ...`; then `watch.stalls` are the learner's stalls."""

    def __init__(self, path: str, offset: int, on_stuck: Callable[[CheckFailed], None] | None = None) -> None:
        self.source = Source(path, offset)
        self.sampler = LoopSampler(path, first_line=offset, on_tick=self._escalate if on_stuck else None)
        self.on_stuck = on_stuck
        self.handled = False  # the loop came back and ended the check itself
        self._first_seen = 0.0

    def _escalate(self) -> None:
        """In the sampler thread: a learner stall the loop has not acted on within ESCALATE seconds."""
        if self.handled or self.held < TRIP or self.on_stuck is None:
            return
        now = time.monotonic()
        if not self._first_seen:
            self._first_seen = now
        elif now - self._first_seen >= ESCALATE:
            self.handled = True
            self.on_stuck(self.verdict())

    async def __aenter__(self) -> LoopWatch:
        self.sampler.__enter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sampler.__exit__()

    @property
    def stalls(self) -> list[LearnerStall]:
        return list(self.sampler.stalls)

    @property
    def blocked(self) -> bool:
        """The learner's stalls add up to BLOCKED seconds or more: the verdict is loop-blocked."""
        return self.held >= BLOCKED

    @property
    def held(self) -> float:
        """Seconds the learner's stalls held the loop, in all."""
        return sum(s.seconds for s in self.sampler.stalls)

    def verdict(self) -> CheckFailed:
        """The `loop-blocked` failure for the stalls seen so far (call only when there are some)."""
        stalls = self.stalls
        worst = max(stalls, key=lambda s: s.seconds)
        code = self.source.code(worst.line)
        where = self.source.where(worst.line)
        call = CALL_RE.search(code)
        _, _, advice = classify(call.group(1)) if call else OTHER
        if advice == OTHER[2]:
            advice = "await its async twin, or move it off the loop with await asyncio.to_thread(...)"
        return fail(Reason.LOOP_BLOCKED, f"your code blocked the event loop: `{code}` ({where}) held it.",
                    measured=f"{len(stalls)} time(s) your code held the loop for {STALL:g} s or more without "
                             f"awaiting, {self.held:.2f} s in all, the longest {worst.seconds:.2f} s",
                    expected=f"no hold of the loop of {STALL:g} s or more: the code awaits instead of waiting",
                    hint=f"That line never awaits, so nothing else on the loop runs meanwhile: {advice}.")

    async def tripped(self, check: asyncio.Task[object]) -> bool:
        """Return True as soon as the learner's stalls add up to TRIP (False if `check` ends first)."""
        while not check.done():
            await asyncio.sleep(POLL)
            if self.held >= TRIP:
                self.handled = True
                return True
        return False
