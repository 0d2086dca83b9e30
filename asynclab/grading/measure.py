"""Small measuring helpers that every check uses, so verdicts read the same across notebooks.

One copy of each: the re-measure policy, a stopwatch, requiring an async def or a class with
methods, counting httpx.AsyncClient constructions, waiting until a counter settles, a bounded
call's outcome, the exceptions inside an exception group. (Locating the learner's line is
grading/loopwatch.Source.)
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..instruments.loop_monitor import LoopMonitor
from .reasons import Reason
from .registry import CheckFailed, fail

if TYPE_CHECKING:
    import httpx

    from .loopwatch import LoopSampler, Source

T = TypeVar("T")
R = TypeVar("R")

# A loop whose stalls (no heartbeat for 5 intervals, 50 ms by default) cover more than this
# share of the time the learner's code ran is "blocked". Blocking code scores near 100%.
# Missed ticks are NOT the measure: on a loaded 2-core machine a healthy loop misses up to
# ~40% of its 10 ms ticks through scheduling jitter alone, but those gaps are short.
STALL_SHARE = 0.35
EXPECTED_LOOP_FREE = f"the loop blocked at most {STALL_SHARE:.0%} of the time (stalls of 50 ms or more)"

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
    one. A `decisive` failure is past any noise margin and is not measured again. `time_left()`
    (seconds) skips an attempt that could not finish before the deadline.
    """
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        measured = await measure()
        try:
            return judge(measured)
        except CheckFailed as failure:
            took = time.monotonic() - started
            if (failure.reason not in NOISY_REASONS or failure.decisive or attempt == attempts
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


def require_methods(cls: type, name: str, methods: Iterable[str], *, reason: Reason = Reason.MISSING_METHOD,
                    summary: str = "{name} has no {method}().", measured: str = "", expected: str, hint: str) -> None:
    """A failing verdict for the first of `methods` the learner's class lacks.

    `summary` and `measured` may name `{name}` and `{method}`; `reason` is MISSING_METHOD, or
    NOT_A_CONTEXT_MANAGER when the methods are __aenter__/__aexit__.
    """
    for method in methods:
        if not hasattr(cls, method):
            raise fail(reason, summary.format(name=name, method=method),
                       measured=measured.format(name=name, method=method), expected=expected, hint=hint)


def name_blocking_lines(source: Source, report: Any, sampler: LoopSampler | None) -> list[str]:
    """Readable names for what blocked the loop, by line of the learner's cell: the calls
    instruments.blocking.find_blocking() saw (`report`, or None) first, then lines `sampler` saw
    holding the loop ("time.sleep (line 6)", "`sum(...)` (line 9)").
    """
    named: list[str] = []
    lines_named: set[int] = set()
    for call in list(getattr(report, "calls", [])) + list(getattr(report, "slow_steps", [])):
        if call.filename != source.path:
            continue  # the lab's own code, or a library's
        function = str(call.function)
        if function.endswith("__exit__"):
            continue  # closing a psycopg connection: its `with` line is named already by connect
        if call.kind == "slow-step":
            function = f"`{source.code(call.lineno)}`"
        entry = f"{function} ({source.where(call.lineno)})"
        if entry not in named:
            named.append(entry)
        lines_named.add(call.lineno)
    if sampler is not None:
        for line, _seconds in sampler.heavy():
            if line not in lines_named:
                named.append(f"`{source.code(line)}` ({source.where(line)})")
                lines_named.add(line)
    return named


def require_context_manager_class(module: Any, name: str) -> type:
    """The learner's class, or a failing verdict: it must be a class with async __aenter__/__aexit__."""
    cls = require_class(module, name, expected=f"class {name}: ... with async __aenter__/__aexit__",
                        hint="Define a class with `async def __aenter__(self)` and `async def __aexit__(self, *exc)`.")
    require_methods(cls, name, ("__aenter__", "__aexit__"), reason=Reason.NOT_A_CONTEXT_MANAGER,
                    summary="{name} is not an async context manager.", measured="no {method}",
                    expected=f"`async with {name}(...) as x:` works",
                    hint="Give the class `async def __aenter__(self)` (return self) and `async def __aexit__(self, *exc)`.")
    return cls


def entered_or(entered: Any, obj: Any, method: str) -> Any:
    """What `async with X(...) as x` gave, if it has `method`; else the object itself (a learner's
    __aenter__ that forgets `return self` is graded on the object, not failed for it)."""
    return entered if hasattr(entered, method) else obj


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


def exception_leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself.

    A TaskGroup wraps the error a check asks for in an ExceptionGroup; gather does not. Checks
    accept either, so they look at the leaves.
    """
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(exception_leaves(inner))
        return out
    return [exc]


def group_name(exc: BaseException) -> str:
    """The exception's type, with the types inside a group: "ExceptionGroup(HTTPStatusError)"."""
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(sorted({type(e).__name__ for e in exception_leaves(exc)}))
        return f"{type(exc).__name__}({inner})"
    return type(exc).__name__


async def outcome_of(call: Callable[[], Awaitable[T]], *, within: float) -> T | Exception:
    """What one bounded call of the learner's code gave: its value, or the exception it raised.

    A verdict is then judged from a value, whether the code returned or raised (a TimeoutError
    after `within` seconds included), so the judging part stays a pure function.
    """
    try:
        async with asyncio.timeout(within):
            return await call()
    except Exception as exc:
        return exc


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


async def settled_peak(read: Callable[[], Awaitable[int]], *, enough: Callable[[int], bool], quiet: float = 0.25,
                       within: float = 3.0, every: float = 0.02) -> int:
    """The largest count seen while it grows: stops once a non-zero count stays put for `quiet`
    seconds, once `enough(count)` holds, or after `within` seconds.

    For counting what piles up (backends opened by lookups held on a lock): the peak is exact
    once nothing new arrives, rather than a sample taken at a lucky moment.
    """
    started = last_change = time.monotonic()
    peak = last = await read()
    while time.monotonic() - started < within:
        await asyncio.sleep(every)
        n = await read()
        peak = max(peak, n)
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        elif (n > 0 and now - last_change >= quiet) or enough(n):
            break
    return peak


class ClientSpy:
    """The httpx.AsyncClient objects (subclasses included) constructed while `client_constructions()` ran.

    It keeps them, so a check can ask which stayed open; `forget()` drops them before a check
    collects garbage to see what the learner's code left behind.
    """

    def __init__(self) -> None:
        self.clients: list[httpx.AsyncClient] = []

    @property
    def created(self) -> int:
        return len(self.clients)

    @property
    def still_open(self) -> int:
        return sum(1 for c in self.clients if not c.is_closed)

    def forget(self) -> None:
        self.clients.clear()


@contextmanager
def client_constructions() -> Iterator[ClientSpy]:
    """Count the httpx.AsyncClient objects made while the block runs, by any code however it
    imported httpx: the constructor is wrapped on the class, and put back on exit.

    A client per request is a connection pool (and an SSL context, ~20 ms of CPU) per request;
    three notebooks grade that mistake, with this one count.
    """
    import httpx

    spy = ClientSpy()
    original = httpx.AsyncClient.__init__

    def counting_init(client: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        original(client, *args, **kwargs)
        spy.clients.append(client)

    httpx.AsyncClient.__init__ = counting_init  # type: ignore[method-assign, assignment]
    try:
        yield spy
    finally:
        httpx.AsyncClient.__init__ = original  # type: ignore[method-assign]


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


def exception_text(exc: BaseException) -> str:
    """ "httpx.ReadTimeout: timed out" — the exception's full name and the start of its message, for verdicts."""
    text = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    message = str(exc)
    if message:
        text += f": {message[:80]}"
    return text
