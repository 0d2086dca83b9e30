"""The check of 06-task-registry: a `BackgroundTasks` registry whose tasks are not lost
(notebook 06 · Background tasks that are not lost).

It runs the learner's registry on the check's own loop, with the loop's exception handler swapped
for one that records every complaint (`capture_loop_errors`) and a logger whose records are kept.
One step per promise of the exercise, in this order:

1. a task whose only reference is the registry survives `gc.collect()` and completes. The task
   waits for a future that only a WeakSet (a "reply router") knows about, so nothing but the
   registry keeps it alive: without a strong reference the loop reports "Task was destroyed
   but it is pending!";
2. a failure is logged once, at ERROR, with its traceback;
3. a cancelled task neither breaks the done callback nor is logged at ERROR;
4. `len()` counts running tasks and drops back to 0 when they finish;
5. `drain(timeout)` lets a quick task finish, cancels a never-ending one at about the timeout,
   and returns (bounded by the check);
6. `drain(timeout)` still returns within STUBBORN_BOUND when a task swallows its cancellation and
   carries on (a cancelled task gets a grace, not forever);
7. nothing else was reported to the loop's exception handler, and no coroutine went un-awaited.

Each step records what it saw; judge.py decides what that means.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import secrets
import time
import warnings
import weakref
from types import ModuleType
from typing import Any

from ...grading.measure import require_class
from ...grading.registry import Verdict, exercise, passed
from ...lab import Lab
from ...lessons.background import capture_loop_errors, complaint_text, recording_logger
from .judge import (
    DRAIN_GUARD,
    DRAIN_TIMEOUT,
    METHODS,
    QUICK,
    SPAWNED_NAME,
    STUBBORN_BOUND,
    Cancelled,
    Drain,
    FailureLogs,
    Spawned,
    StubbornDrain,
    Survival,
    judge_cancel,
    judge_class,
    judge_drain,
    judge_failure_logged,
    judge_len_finished,
    judge_len_running,
    judge_quiet_loop,
    judge_spawned,
    judge_stubborn_drain,
    judge_survived,
)

DESTROYED = "Task was destroyed but it is pending"
Complaints = list[dict[str, Any]]


def _require_registry_class(module: ModuleType, name: str) -> type:
    cls = require_class(module, name, expected=f"class {name}: with spawn(), async drain() and __len__()",
                        hint=f"Define `class {name}:` with `__init__(self, logger)`.")
    learners: Any = cls  # its methods are the learner's, unknown to the type checker
    missing = [method for method in METHODS if not hasattr(cls, method)]
    judge_class(name, missing, not missing and inspect.iscoroutinefunction(learners.drain))
    return cls


def _mentions(record: logging.LogRecord, marker: str) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None and marker in str(exc):
        return True
    try:
        return marker in record.getMessage()
    except Exception:  # a broken format string is the learner's; it is not about our marker
        return False


async def _settle(seconds: float = 0.05) -> None:
    """Let done callbacks run (they are scheduled one loop iteration after a task ends)."""
    await asyncio.sleep(seconds)


def _take(complaints: Complaints, matches: list[dict[str, Any]]) -> list[str]:
    """The complaints a step explains, as text; they are removed, so the last step sees only the others."""
    for c in matches:
        complaints.remove(c)
    return [complaint_text(c) for c in matches]


@exercise(__file__)
async def check_task_registry(module: ModuleType, lab: Lab) -> Verdict:
    cls = _require_registry_class(module, "BackgroundTasks")
    marker = secrets.token_hex(4)
    logger, records = recording_logger(f"asynclab.check06.{marker}")
    registry = cls(logger)
    with capture_loop_errors() as complaints, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        await _survives_gc(registry, complaints)
        await _failure_logged_once(registry, records, complaints, marker)
        await _cancel_is_quiet(registry, records, complaints)
        await _no_leak(registry)
        drained = await _drain_is_bounded(registry)
        drained += "; " + await _drain_outlasts_a_stubborn_task(registry)
        await _settle()
        gc.collect()
        await _settle(0.01)
    judge_quiet_loop([complaint_text(c) for c in complaints],
                     [str(w.message) for w in warned
                      if issubclass(w.category, RuntimeWarning) and "never awaited" in str(w.message)])
    return passed("spawned tasks survived gc.collect(), one failure gave one ERROR with its traceback, a cancel "
                  "stayed quiet, len() went back to 0, and drain() kept its timeout.", measured=drained)


async def _survives_gc(registry: Any, complaints: Complaints) -> None:
    loop = asyncio.get_running_loop()
    router: weakref.WeakSet[asyncio.Future[str]] = weakref.WeakSet()  # pending replies, held weakly
    finished: list[str] = []

    async def wait_for_reply() -> None:
        reply = loop.create_future()
        router.add(reply)
        finished.append(await reply)

    task = registry.spawn(wait_for_reply(), name=SPAWNED_NAME)
    is_task = isinstance(task, asyncio.Task)
    judge_spawned(Spawned(is_task, repr(task), task.get_name() if is_task else None))
    alive = weakref.ref(task)
    del task
    for _ in range(3):  # let it start and park on its future
        await asyncio.sleep(0)
    gc.collect()
    survival = Survival(_take(complaints, [c for c in complaints if DESTROYED in str(c.get("message", ""))]),
                        alive() is not None)
    judge_survived(survival)
    for reply in list(router):
        reply.set_result("reply")
    for _ in range(50):
        if finished:
            break
        await asyncio.sleep(0.01)
    survival.completed = bool(finished)
    judge_survived(survival)


async def _failure_logged_once(registry: Any, records: list[logging.LogRecord], complaints: Complaints,
                               marker: str) -> None:
    text = f"background job {marker} failed"

    async def fails() -> None:
        await asyncio.sleep(0.02)
        raise LookupError(text)

    registry.spawn(fails(), name="check-fails")
    for _ in range(100):
        await asyncio.sleep(0.01)
        if any(_mentions(r, marker) for r in records):
            break
    await _settle(0.1)  # room for a second log line
    gc.collect()
    mine = [r for r in records if _mentions(r, marker)]
    unretrieved = [c for c in complaints if "never retrieved" in str(c.get("message", ""))]
    if not any(r.levelno >= logging.ERROR for r in mine):  # the complaint is the verdict's, not the last step's
        _take(complaints, unretrieved)
    judge_failure_logged(FailureLogs(text, mine, bool(unretrieved)))


async def _cancel_is_quiet(registry: Any, records: list[logging.LogRecord], complaints: Complaints) -> None:
    started = asyncio.Event()

    async def sleeps() -> None:
        started.set()
        await asyncio.sleep(60)

    before_records, before_complaints = len(records), len(complaints)
    task = registry.spawn(sleeps(), name="check-cancelled")
    async with asyncio.timeout(2):
        await started.wait()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    await _settle()
    crashed = _take(complaints, [c for c in complaints[before_complaints:] if isinstance(c.get("exception"), BaseException)
                                 or "callback" in str(c.get("message", "")).lower()])
    judge_cancel(Cancelled(crashed, task.cancelled(), task.done(),
                           [r for r in records[before_records:] if r.levelno >= logging.ERROR]))


async def _no_leak(registry: Any) -> None:
    async def short() -> None:
        await asyncio.sleep(0.05)

    tasks = [registry.spawn(short(), name=f"check-short-{i}") for i in range(3)]
    judge_len_running(len(registry))
    await asyncio.wait(tasks, timeout=2)
    del tasks
    await _settle()
    judge_len_finished(len(registry))


async def _timed_drain(registry: Any, bound: float) -> tuple[float, bool, str | None]:
    """drain(DRAIN_TIMEOUT), stopped after `bound` s: (seconds it took, stopped by the check, what it raised)."""
    started = time.perf_counter()
    expired, raised = False, None
    try:
        async with asyncio.timeout(bound) as guard:
            await registry.drain(DRAIN_TIMEOUT)
    except TimeoutError as exc:
        expired = guard.expired()
        raised = None if expired else f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        raised = f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - started, expired, raised


async def _drain_is_bounded(registry: Any) -> str:
    quick_done: list[bool] = []

    async def quick() -> None:
        await asyncio.sleep(QUICK)
        quick_done.append(True)

    async def never_ends() -> None:
        await asyncio.sleep(3600)

    registry.spawn(quick(), name="check-quick")
    endless = registry.spawn(never_ends(), name="check-never-ends")
    drain = Drain(*await _timed_drain(registry, DRAIN_TIMEOUT + DRAIN_GUARD))
    if not drain.expired and drain.raised is None:
        await _settle()
        drain.quick_done, drain.endless_done = bool(quick_done), endless.done()
    endless.cancel()
    return judge_drain(drain)


async def _drain_outlasts_a_stubborn_task(registry: Any) -> str:
    """A job that catches its CancelledError and carries on must not hold the shutdown forever."""
    swallowed = asyncio.Event()

    async def ignores_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()  # the job's mistake: it carries on (a second cancel ends it)
            await asyncio.sleep(3600)

    stubborn = registry.spawn(ignores_cancel(), name="check-ignores-cancel")
    await asyncio.sleep(0)
    drain = StubbornDrain(*await _timed_drain(registry, STUBBORN_BOUND))
    drain.swallowed = swallowed.is_set()
    if not stubborn.done():
        stubborn.cancel()  # the second cancel ends it
        await asyncio.wait({stubborn}, timeout=2)
    return judge_stubborn_drain(drain)
