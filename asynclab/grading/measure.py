"""Small measuring helpers that every check uses, so verdicts read the same across notebooks."""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


# --- Notebooks 05-07 (vocabB): running learner code that may never stop, and reading the other side ---


async def run_on_own_loop(body: Callable[[], Awaitable[T]], limit: float, *, name: str = "asynclab-learner-loop") -> T:
    """Run `body()` on a fresh event loop in a daemon thread; return or raise what it did, within `limit` s.

    Code that swallows `CancelledError` cannot be stopped by cancelling it; on the check's own loop
    it would keep the check (and the worker's `asyncio.run` clean-up) waiting forever once the
    verdict is known. The result is handed back as soon as `body` finishes, before that loop's
    clean-up, which may never end; the thread is a daemon, so the worker process still exits.
    """
    caller = asyncio.get_running_loop()
    outcome: asyncio.Future[T] = caller.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if outcome.done():
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(value)

    async def main() -> None:
        try:
            value = await body()
        except Exception as exc:  # CheckFailed included
            caller.call_soon_threadsafe(settle, None, exc)
        except BaseException as exc:  # noqa: BLE001 - a Future cannot carry CancelledError & co
            caller.call_soon_threadsafe(settle, None, RuntimeError(f"the check's loop ended with {exc!r}"))
            raise
        else:
            caller.call_soon_threadsafe(settle, value, None)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException:  # noqa: BLE001 - the verdict has been handed over already
            pass

    threading.Thread(target=run, name=name, daemon=True).start()
    async with asyncio.timeout(limit):
        return await outcome


@dataclass
class BoundedCall:
    """What one bounded call of the learner's coroutine did (see `bounded_call`)."""

    elapsed: float  # seconds until it returned or raised; until it was stopped if it never did
    finished: bool  # it returned or raised on its own, before the check stopped it
    value: Any = None
    error: BaseException | None = None
    stuck: bool = False  # still running after being cancelled: it swallowed the CancelledError
    snapshot: Any = None  # what `look` saw when the bound passed, before the call was cancelled


async def bounded_call(make: Callable[[], Awaitable[Any]], bound: float,
                       look: Callable[[], Awaitable[Any]] | None = None, *, grace: float = 1.0) -> BoundedCall:
    """Call the learner's coroutine; stop it (cancel) if it runs longer than `bound` seconds.

    `look` runs when the bound has passed, before the cancel: the state of the other side
    (server counters, pg_stat_activity) as the learner's code left it. A cancelled call gets
    `grace` seconds to end; one that does not is `stuck`.
    """
    ended: list[float] = []

    async def timed() -> Any:
        try:
            return await make()
        finally:
            ended.append(time.perf_counter())

    started = time.perf_counter()
    task = asyncio.ensure_future(timed())
    done, _ = await asyncio.wait({task}, timeout=bound)
    if done:
        elapsed = (ended[0] if ended else time.perf_counter()) - started
        if task.cancelled():
            return BoundedCall(elapsed, True, error=asyncio.CancelledError())
        error = task.exception()
        return BoundedCall(elapsed, True, value=None if error else task.result(), error=error)
    waited = time.perf_counter() - started
    snapshot = await look() if look is not None else None
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if done and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise
    return BoundedCall(waited, False, stuck=not done, snapshot=snapshot)


async def poll_until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, within: float,
                     every: float = 0.05) -> T:
    """Read a counter (a server's stats, a backend count) until `done(value)` or `within` seconds pass.

    The server sees a cancelled request or a closed connection a little after the client does,
    so a check waits for the count it wants, and judges the last value if it never comes.
    """
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if done(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(every)


def exception_text(exc: BaseException) -> str:
    """ "httpx.ReadTimeout: timed out" — the exception's full name and the start of its message, for verdicts."""
    text = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    message = str(exc)
    if message:
        text += f": {message[:80]}"
    return text
