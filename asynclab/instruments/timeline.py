"""Timeline: when each task (or named span of work) ran, waited and ended, and how it ended.

Two ways to record:

    async with Timeline() as tl:                     # explicit spans
        async with tl.span("fetch 3"):
            ...

    async with Timeline(track_tasks=True) as tl:     # every task created inside, automatically
        async with asyncio.TaskGroup() as tg:
            for url in urls:
                tg.create_task(fetch(url), name=url)

Waiting (for a semaphore, a pool, a lock) is recorded with `tl.waiting(label)`, `tl.acquire(sem)`
or `tl.span(name, acquire=sem)` and drawn as a lighter part of the bar, so a picture shows
"3 run, 9 wait", and `max_concurrent()` counts only the part that is not waiting. Use spans or
task tracking for a given piece of code, not both: a span inside a tracked task is a second bar.

Task tracking installs a task factory while the timeline is active and restores the previous
one on exit. It records only tasks created from the code inside the `with` block (and their
children), found through a context variable, so the notebook kernel's own tasks never show up.
Each tracked coroutine is wrapped in a thin proxy that notes the moment it first runs and the
moment it returns or raises; done callbacks run a loop iteration later, which would make a task
that releases a semaphore seem to overlap the task that takes it over.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import contextvars
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["Span", "Timeline", "Wait"]

OUTCOMES = ("ok", "error", "cancelled", "running")

# Timelines tracking tasks in the current context (a tuple, so nested timelines both see a task).
_tracking: contextvars.ContextVar[tuple[Timeline, ...]] = contextvars.ContextVar("asynclab_tracking", default=())
# The innermost explicit span in the current context, for `waiting()`.
_current_span: contextvars.ContextVar[tuple[Timeline, Span] | None] = contextvars.ContextVar("asynclab_span",
                                                                                           default=None)


@dataclass
class Wait:
    """A stretch of a span spent waiting (seconds since the timeline started)."""

    start: float
    end: float
    label: str = "waiting"


@dataclass(eq=False)
class Span:
    """One bar of the timeline. Times are seconds since the timeline started; `end` is None while running."""

    name: str
    start: float
    end: float | None = None
    outcome: str = "running"
    kind: str = "span"  # "span" (explicit), "task" (tracked) or "wait" (a wait outside any span)
    error: str | None = None
    waits: list[Wait] = field(default_factory=list)
    # How often a tracked task has given control back to the loop (kept by the coroutine proxy).
    _suspensions: int = field(default=0, repr=False)
    _task: weakref.ReferenceType[asyncio.Task[Any]] | None = field(default=None, repr=False)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def active_segments(self, until: float) -> list[tuple[float, float]]:
        """The parts of the span that were not waiting: what counts as 'running concurrently'."""
        end = self.end if self.end is not None else until
        segments, cursor = [], self.start
        for wait in sorted(self.waits, key=lambda w: w.start):
            if wait.start > cursor:
                segments.append((cursor, min(wait.start, end)))
            cursor = max(cursor, wait.end)
        if end > cursor:
            segments.append((cursor, end))
        return [(a, b) for a, b in segments if b > a]


def _outcome_of(exc: BaseException | None) -> tuple[str, str | None]:
    if exc is None:
        return "ok", None
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled", None
    return "error", f"{type(exc).__name__}: {exc}"


class _TracedCoroutine(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine proxy that reports when the wrapped coroutine first runs and when it finishes.

    Attribute reads it does not define (cr_frame, cr_code, cr_running, cr_await, ...) go to the
    wrapped coroutine, so task reprs and tracebacks still name the learner's function.
    """

    def __init__(self, coro: collections.abc.Coroutine[Any, Any, Any], timeline: Timeline, span: Span) -> None:
        self._coro = coro
        self._timeline = timeline
        self._span = span
        self._started = False
        self.__name__ = getattr(coro, "__name__", type(coro).__name__)
        self.__qualname__ = getattr(coro, "__qualname__", self.__name__)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coro, name)

    def _first_run(self) -> None:
        self._started = True
        self._timeline._task_started(self._span)

    def send(self, value: Any) -> Any:
        if not self._started:
            self._first_run()
        try:
            result = self._coro.send(value)
        except BaseException as exc:
            self._timeline._finish(self._span, None if isinstance(exc, StopIteration) else exc)
            raise
        self._span._suspensions += 1
        return result

    def throw(self, *args: Any) -> Any:
        if not self._started:
            self._first_run()
        try:
            result = self._coro.throw(*args)
        except BaseException as exc:
            self._timeline._finish(self._span, None if isinstance(exc, StopIteration) else exc)
            raise
        self._span._suspensions += 1
        return result

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> _TracedCoroutine:  # type: ignore[override]
        return self

    def __iter__(self) -> _TracedCoroutine:
        return self

    def __next__(self) -> Any:
        return self.send(None)


class _SpanContext:
    """`with` and `async with` for one explicit span."""

    def __init__(self, timeline: Timeline, name: str, acquire: Any = None) -> None:
        self._timeline = timeline
        self._name = name
        self._lock = acquire
        self._token: contextvars.Token[tuple[Timeline, Span] | None] | None = None
        self.span: Span | None = None

    def __enter__(self) -> Span:
        self.span = self._timeline._open(self._name, kind="span")
        self._token = _current_span.set((self._timeline, self.span))
        return self.span

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self.span is not None and self._token is not None
        with contextlib.suppress(ValueError):  # exited in another context than entered
            _current_span.reset(self._token)
        self._timeline._finish(self.span, exc)

    async def __aenter__(self) -> Span:
        span = self.__enter__()
        if self._lock is not None:
            try:
                await self._lock.acquire()
            except BaseException as exc:
                self.__exit__(type(exc), exc, exc.__traceback__)
                raise
            finally:  # the span began waiting the moment it began
                span.waits.append(Wait(span.start, self._timeline.now(), _lock_label(self._lock)))
        return span

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if self._lock is not None:
                self._lock.release()
        finally:
            self.__exit__(et, exc, tb)


def _lock_label(lock: Any) -> str:
    return f"waiting for {type(lock).__name__.lower()}"


class Timeline:
    """Per-task start, waits, end and outcome, for Gantt charts and concurrency checks.

    `track_tasks=True` records every task created inside the block; without it, only
    `tl.span(...)` blocks are recorded.
    """

    def __init__(self, *, track_tasks: bool = False) -> None:
        self.track_tasks = track_tasks
        self.spans: list[Span] = []
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_factory: Any = None
        self._factory_installed = False
        self._token: contextvars.Token[tuple[Timeline, ...]] | None = None
        self._task_spans: dict[asyncio.Task[Any], Span] = {}

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the timeline started (the x axis of the plot)."""
        return time.monotonic() - self._t0

    @property
    def elapsed(self) -> float:
        return (self._t_end if self._t_end is not None else time.monotonic()) - self._t0

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Timeline:
        self._t0 = time.monotonic()
        self._t_end = None
        if self.track_tasks:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError("Timeline(track_tasks=True) must be entered on a running event loop "
                                   "(use `async with` in a coroutine or a notebook cell)") from None
            self._previous_factory = self._loop.get_task_factory()
            self._loop.set_task_factory(self._factory)
            self._factory_installed = True
            self._token = _tracking.set((*_tracking.get(), self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._t_end = time.monotonic()
        self._refresh_names()
        if self._token is not None:
            try:
                _tracking.reset(self._token)
            except ValueError:  # exited in another context than entered: just stop tracking here
                _tracking.set(tuple(t for t in _tracking.get() if t is not self))
            self._token = None
        if self._factory_installed and self._loop is not None:
            # Restore only if nobody replaced our factory meanwhile; otherwise ours becomes a pass-through.
            if self._loop.get_task_factory() == self._factory:
                self._loop.set_task_factory(self._previous_factory)
            self._factory_installed = False

    async def __aenter__(self) -> Timeline:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    # -- task tracking -----------------------------------------------------------------------
    def _factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        if self._factory_installed and self in _tracking.get() and asyncio.iscoroutine(coro):
            span = Span(name=str(kwargs.get("name") or getattr(coro, "__qualname__", "task")),
                        start=self.now(), kind="task")
            self.spans.append(span)
            coro = _TracedCoroutine(coro, self, span)
        if self._previous_factory is not None:
            return self._previous_factory(loop, coro, **kwargs)  # type: ignore[no-any-return]
        return asyncio.Task(coro, loop=loop, **kwargs)

    def _task_started(self, span: Span) -> None:
        span.start = self.now()
        task = asyncio.current_task()
        if task is not None:
            span.name = task.get_name()
            self._task_spans[task] = span
            # An eager task (3.12+) runs before create_task() names it: read the name again later.
            span._task = weakref.ref(task)
            task.add_done_callback(lambda t: setattr(span, "name", t.get_name()))

    def _refresh_names(self) -> None:
        for span in self.spans:
            task = span._task() if span._task is not None else None
            if task is not None:
                span.name = task.get_name()

    # -- spans -------------------------------------------------------------------------------
    def _open(self, name: str, *, kind: str) -> Span:
        span = Span(name=name, start=self.now(), kind=kind)
        self.spans.append(span)
        return span

    def _finish(self, span: Span, exc: BaseException | None) -> None:
        if span.end is not None:
            return
        span.end = self.now()
        span.outcome, span.error = _outcome_of(exc)
        if span.kind == "task":
            task = asyncio.current_task()
            if task is not None and self._task_spans.get(task) is span:
                del self._task_spans[task]

    def span(self, name: str, *, acquire: Any = None) -> _SpanContext:
        """Record one bar: `async with tl.span("fetch 3"): ...` (plain `with` works too).

        The outcome is "ok", "error" (with the exception's text) or "cancelled".
        `acquire=sem` makes the span wait for `sem` first (drawn as a wait) and hold it until
        the end: `async with tl.span(f"fetch {i}", acquire=sem): ...`.
        """
        return _SpanContext(self, name, acquire)

    def _span_for_wait(self) -> Span | None:
        current = _current_span.get()
        if current is not None and current[0] is self and current[1].end is None:
            return current[1]
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        return self._task_spans.get(task) if task is not None else None

    def mark_wait(self, start: float, end: float, label: str = "waiting", span: Span | None = None) -> Wait:
        """Record a wait from `start` to `end` (time.monotonic() values) on `span`, or on the current span/task."""
        wait = Wait(start - self._t0, end - self._t0, label)
        target = span or self._span_for_wait()
        if target is None:  # a wait outside any recorded span still deserves a (light) bar
            target = Span(name=label, start=wait.start, end=wait.end, outcome="ok", kind="wait")
            self.spans.append(target)
        target.waits.append(wait)
        return wait

    @contextmanager
    def waiting(self, label: str = "waiting") -> Iterator[None]:
        """Mark the enclosed await as waiting: `with tl.waiting("semaphore"): await sem.acquire()`.

        When a tracked task starts with a wait (it has not yet given control back to the loop),
        the wait is drawn from the task's start: the few microseconds before it are not "running
        concurrently" with anything, and counting them would break `max_concurrent()`.
        """
        start = time.monotonic()
        span = self._span_for_wait()
        from_start = span is not None and span.kind == "task" and not span.waits and span._suspensions == 0
        try:
            yield
        finally:
            if span is not None and from_start:
                start = span.start + self._t0
            self.mark_wait(start, time.monotonic(), label, span)

    @asynccontextmanager
    async def acquire(self, lock: Any, label: str | None = None) -> AsyncIterator[None]:
        """`async with tl.acquire(sem):` holds `sem` for the block, drawing the wait for it as a wait."""
        with self.waiting(label or _lock_label(lock)):
            await lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # -- queries -----------------------------------------------------------------------------
    def max_concurrent(self) -> int:
        """The most spans running (not waiting) at the same moment, from the recorded intervals."""
        until = self.elapsed
        events: list[tuple[float, int]] = []
        for span in self.spans:
            for a, b in span.active_segments(until):
                events.append((a, 1))
                events.append((b, -1))
        events.sort(key=lambda e: (e[0], e[1]))  # at equal times, an end comes before a start
        running = peak = 0
        for _, delta in events:
            running += delta
            peak = max(peak, running)
        return peak

    def outcomes(self) -> dict[str, int]:
        """Counts per outcome, e.g. {"ok": 9, "error": 1, "cancelled": 2, "running": 0}."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for span in self.spans:
            if span.kind != "wait":
                counts[span.outcome] = counts.get(span.outcome, 0) + 1
        return counts

    def first_failure(self) -> float | None:
        """When the first span ended with an error (seconds since start), or None."""
        ends = [s.end for s in self.spans if s.outcome == "error" and s.end is not None]
        return min(ends) if ends else None

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.outcomes().items() if v)
        return f"<Timeline {len(self.spans)} spans ({counts or 'empty'}), max {self.max_concurrent()} at once>"
