"""Small measuring helpers that every check uses, so verdicts read the same across notebooks."""

from __future__ import annotations

import gc
import inspect
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..instruments.loop_monitor import LoopMonitor
from .reasons import Reason
from .registry import CheckFailed, fail

T = TypeVar("T")
R = TypeVar("R")

# A loop whose stalls (no heartbeat for 5 intervals, 50 ms by default) cover more than this
# share of the time the learner's code ran is "blocked". Blocking code scores near 100%.
# Missed ticks are NOT the measure: on a loaded 2-core machine a healthy loop misses up to
# ~40% of its 10 ms ticks through scheduling jitter alone, but those gaps are short.
STALL_SHARE = 0.35

# Failures a busy machine can cause on a right answer: a descheduled process, a garbage
# collection, a neighbour's burst of load. These, and only these, are measured a second time.
# Everything else (a wrong result, a lost job, a missing deadline on /hang) is deterministic.
NOISY_REASONS: frozenset[Reason] = frozenset({Reason.TOO_SLOW, Reason.LOOP_BLOCKED, Reason.DEADLINE_MISSED,
                                              Reason.GAVE_UP_EARLY, Reason.WORKERS_SERIAL, Reason.P99_TOO_HIGH})


async def remeasure(measure: Callable[[], Awaitable[T]], judge: Callable[[T], R], *, attempts: int = 2,
                    time_left: Callable[[], float] | None = None) -> R:
    """Judge a measurement; measure again only when the verdict is a timing/noise failure.

    The course's one re-measure policy: `judge` returns the verdict or raises `fail(...)`. A
    failure whose reason is in NOISY_REASONS gets a fresh measurement (up to `attempts` in all),
    and the last one decides; a wrong answer fails every time, a hiccup does not fail a right
    one. `time_left()` (seconds) skips an attempt that could not finish before the deadline.
    """
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        measured = await measure()
        try:
            return judge(measured)
        except CheckFailed as failure:
            took = time.monotonic() - started
            if (failure.reason not in NOISY_REASONS or attempt == attempts
                    or (time_left is not None and time_left() < 1.5 * took)):
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def require_coroutine_function(module: Any, name: str) -> Callable[..., Awaitable[Any]]:
    """The learner's function, or a failing verdict that says it must be `async def`."""
    fn = getattr(module, name)
    if not inspect.iscoroutinefunction(fn):
        raise fail(Reason.NOT_ASYNC, f"{name} is not an async function.", measured=f"{name} is a {type(fn).__name__}",
                   expected=f"async def {name}(...)", hint="Define it with `async def` so callers can await it.")
    return fn


def require_class(module: Any, name: str, *, expected: str, hint: str) -> type:
    """The learner's class, or a failing verdict that says it must be a class."""
    cls = getattr(module, name)
    if not inspect.isclass(cls):
        raise fail(Reason.NOT_A_CLASS, f"{name} is not a class.", measured=f"{name} is a {type(cls).__name__}",
                   expected=expected, hint=hint)
    return cls


def loop_health(monitor: LoopMonitor) -> str:
    return (f"loop blocked {monitor.blocked_share:.0%} of {monitor.elapsed:.2f} s, "
            f"longest stall {monitor.longest_stall:.2f} s")


def ratio_text(measured: float, ideal: float) -> str:
    return f"{measured:.2f} s, {measured / ideal:.1f}× the ideal {ideal:.2f} s" if ideal > 0 else f"{measured:.2f} s"


@contextmanager
def unawaited_coroutines() -> Iterator[list[str]]:
    """The "coroutine ... was never awaited" warnings raised while the block runs.

    A learner who writes `asyncio.sleep(1)` without `await` gets no error, only this warning,
    and only when the dropped coroutine is collected: hence the gc.collect() at the end.
    """
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            yield found
        finally:
            gc.collect()
            found.extend(str(w.message) for w in caught if "was never awaited" in str(w.message))


class Stopwatch:
    """`with Stopwatch() as sw: ...; sw.seconds` — monotonic, for ratios against an ideal."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
