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

Whose work is it? The learner's line nearest to the innermost frame is charged when everything
below it is a plain call into library or stdlib code:
* the learner's line is the innermost Python frame: their own code, or a C call they made
  (time.sleep, hashlib.pbkdf2_hmac);
* only synchronous library frames lie below it: a CPU-heavy call made from their line
  (`json.dumps` of a huge object, `re.sub` on a huge string, `sorted` with a Python key from a
  library) holds the loop as surely as their own loop would;
* the innermost frame is synchronous I/O (SYNC_IO below), however it was reached.
A C call that keeps the GIL (json's C encoder, re, sorted) starves the sampler: the first sample
after it comes late, and the loop thread's CPU time since the previous sample (schedstat) says how
long it ran. That sample usually lands in the frame that made the call (the interpreter hands the
GIL over at its next call); if the callback has by then moved on into asyncio's code, the hold is
missed, so a known answer that must be caught uses a pure-Python library call (pprint) instead.
A frame that is a coroutine or async generator, asyncio's own code, or the course's (the check,
the lab's client, a setup cell) between the learner's line and the innermost frame clears the
learner: `await client.get(url)` with httpcore's async pool sorting 30,000 queued requests, or
waiting for the GIL, was seen holding a correct answer's loop for 0.2 s under load, and that is
the library's await, not the lesson's "blocking call".
"""

from __future__ import annotations

import asyncio
import inspect
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType, ModuleType

from ..instruments.blocking_report import OTHER, classify
from .reasons import Reason
from .registry import CheckFailed, fail

STALL = 0.1  # seconds one callback of the learner's code may hold a loop (notebook 00: 0.1 s is felt)
# ... and the verdict: holds of STALL or more that add up to BLOCKED seconds. One borderline hold
# is not enough: on an overloaded machine, creating an httpx.AsyncClient (about 20 ms of CPU, plus
# waits for the GIL that no counter tells from a sleep) was once seen holding the loop 0.11 s.
BLOCKED = 0.15
# Holds adding up to TRIP seconds end the check at once (no need to wait for a verdict we know), and
# the verdict is decisive: not measured again (a right answer's borderline holds were 0.11-0.12 s).
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


# A frame of one of these is awaited code: the learner's line below it is waiting, not calling.
ASYNC_CODE = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR
# Where asyncio's and the course's own code live: never a library call of the learner's.
NOT_LIBRARY = (str(Path(asyncio.__file__).parent) + "/", str(Path(__file__).resolve().parents[1]) + "/")


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
        self._is_library: dict[CodeType, bool] = {}
        self._loop_threads: set[int] = set()  # threads seen running a loop callback
        self._sched: dict[int, tuple[float, float]] = {}  # their (CPU, run-queue wait) at the last sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asynclab-loop-sampler", daemon=True)

    def _inside_callback(self, frame: FrameType | None) -> tuple[int | None, FrameType | None, bool]:
        """(learner line, loop callback frame, it counts) for one thread's stack.

        The callback frame is set when the thread runs a loop callback, the line when the
        learner's code runs inside it. It counts when only synchronous library code, or
        nothing, runs below the learner's line nearest to the innermost frame, or when the
        innermost frame is sync I/O."""
        line = None
        innermost = True
        own = False
        library_only = True  # every frame below the learner's line (so far) is a sync library call
        while frame is not None:
            code = frame.f_code
            if line is None and code.co_filename == self.path and frame.f_lineno > self.first_line:
                line = frame.f_lineno
                own = own or library_only
            elif code is _HANDLE_RUN:
                return line, frame, own
            elif line is None:
                if innermost and any(part in code.co_filename for part in SYNC_IO):
                    own = True  # a synchronous I/O call, made somewhere under the learner's line
                library_only = library_only and self._library(code)
            innermost = False
            frame = frame.f_back
        return None, None, False

    def _library(self, code: CodeType) -> bool:
        """Synchronous code of a library or the stdlib (not asyncio's, not the course's, not awaited)."""
        known = self._is_library.get(code)
        if known is None:
            name = code.co_filename
            known = self._is_library[code] = not (
                code.co_flags & ASYNC_CODE or name == self.path or name.startswith(NOT_LIBRARY))
        return known

    def _native_id(self, ident: int) -> int | None:
        if ident not in self._native:
            self._native.update({t.ident: t.native_id for t in threading.enumerate() if t.ident is not None})
            self._native.setdefault(ident, None)
        return self._native[ident]

    def _close(self, thread_id: int) -> None:
        hold = self._holds.pop(thread_id, None)
        if hold is not None and hold.seconds >= STALL and hold.lines:
            self.stalls.append(LearnerStall(hold.seconds, hold.lines.most_common(1)[0][0]))

    def _since_last(self, thread_id: int) -> tuple[float, float]:
        """(seconds on a CPU, seconds waiting for one) of a loop thread since the last sample."""
        sched = _schedstat(self._native_id(thread_id))
        before = self._sched.get(thread_id)
        if sched is None:
            return 0.0, 0.0
        self._sched[thread_id] = sched
        if before is None:
            return 0.0, 0.0
        return sched[0] - before[0], sched[1] - before[1]

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
                    if thread_id == me:
                        continue
                    line, callback, own = self._inside_callback(frame)
                    if callback is not None:
                        self._loop_threads.add(thread_id)
                    on_cpu, queued = self._since_last(thread_id) if thread_id in self._loop_threads else (0.0, 0.0)
                    hold = self._holds.get(thread_id)
                    if line is None or callback is None:
                        if hold is not None:
                            self._close(thread_id)
                        continue
                    # A C call that keeps the GIL (json's encoder, re, sorted) starves this thread:
                    # the first sample after it comes late, and the thread's CPU time says how long
                    # it ran. Otherwise all but the time the thread waited for a CPU.
                    held = max(weight - queued, on_cpu, 0.0)
                    self.seconds[line] += max(weight, on_cpu)
                    if hold is None or hold.callback is not callback:
                        self._close(thread_id)
                        hold = self._holds[thread_id] = _Hold(callback, lines=Counter())
                    if own:
                        hold.seconds += held
                    assert hold.lines is not None
                    hold.lines[line] += 1
                for thread_id in [t for t in self._holds if t not in frames]:
                    self._close(thread_id)
                for thread_id in [t for t in self._loop_threads if t not in frames]:
                    self._loop_threads.discard(thread_id)
                    self._sched.pop(thread_id, None)
            finally:
                frames = frame = callback = None  # type: ignore[assignment]
            if self.on_tick is not None:
                self.on_tick()

    def __enter__(self) -> LoopSampler:
        try:
            asyncio.get_running_loop()
            self._loop_threads.add(threading.get_ident())  # its CPU time is known from the first sample
        except RuntimeError:
            pass
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
                    hint=f"That line never awaits, so nothing else on the loop runs meanwhile: {advice}.",
                    decisive=self.held >= TRIP)

    async def tripped(self, check: asyncio.Task[object]) -> bool:
        """Return True as soon as the learner's stalls add up to TRIP (False if `check` ends first)."""
        while not check.done():
            await asyncio.sleep(POLL)
            if self.held >= TRIP:
                self.handled = True
                return True
        return False
