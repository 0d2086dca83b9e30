"""Checks for notebook 06 · Background tasks that are not lost.

06-task-registry runs the learner's BackgroundTasks on the check's own loop, with the loop's
exception handler swapped for one that records every complaint (`capture_loop_errors`) and
a logger whose records are kept. One step per promise of the exercise, in this order:

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

06-durable-worker runs the learner's `work` in three worker *processes* (the program is
`asynclab/lessons/n06_background_tasks.py`; it imports the submission file), on a private copy
of the jobs table that their pools see as `jobs` (search_path). The check enqueues 20 jobs with
the learner's `enqueue`; job VICTIM blocks its worker on the first attempt and that worker is
SIGKILLed mid-job; job LONG runs two leases (a heartbeat must keep it from running twice); job
STEAL is taken over by the check mid-handler (the old worker's completion must be fenced off).
Then every job must complete, none may stay claimed, workers must have run jobs side by side, a
poison job must run MAX_ATTEMPTS times and end 'failed' without ending work(), and the survivors
must return from `work` once `stop` is set.

Both checks of the notebook live here (the architecture keeps one check module per notebook),
which is why this module runs past 400 lines.
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
from pathlib import Path
from types import ModuleType
from typing import Any

from ...lab import Lab
from ...lessons.n06_background_tasks import (
    WorkerLab,
    capture_loop_errors,
    complaint_text,
    create_jobs_schema,
    drop_jobs_schema,
    open_pool,
    recording_logger,
)
from ..layout import ROOT as EXERCISES
from ..measure import require_class, require_coroutine_function
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed

# -- 06-task-registry -------------------------------------------------------------------------

DRAIN_TIMEOUT = 0.6  # what the check passes to drain()
QUICK = 0.15  # a task that drain must let finish
DRAIN_GUARD = 3.0  # seconds past the timeout before the check stops a drain that does not return
STUBBORN_BOUND = 2 * DRAIN_TIMEOUT + 0.9  # drain + a grace for cancelled tasks; the solution takes 2 × DRAIN_TIMEOUT
DESTROYED = "Task was destroyed but it is pending"


def _require_registry_class(module: ModuleType, name: str) -> type:
    cls = require_class(module, name, expected=f"class {name}: with spawn(), async drain() and __len__()",
                        hint=f"Define `class {name}:` with `__init__(self, logger)`.")
    for method in ("spawn", "drain", "__len__"):
        if not hasattr(cls, method):
            raise fail(Reason.MISSING_METHOD, f"{name} has no {method}().", expected="spawn(coro, *, name=None), "
                       "async drain(timeout) and __len__()", hint="Keep the method names from the exercise text.")
    learners: Any = cls  # its methods are the learner's, unknown to the type checker
    if not inspect.iscoroutinefunction(learners.drain):
        raise fail(Reason.NOT_ASYNC, "drain is not an async method.", expected="async def drain(self, timeout: float) -> None",
                   hint="drain waits for tasks, so it must be `async def` and awaited.")
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


@exercise(str(EXERCISES / "ex06_task_registry" / "check.py"))  # hints, deadline: exercise.toml
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
    unexplained = [c for c in complaints]
    if unexplained:
        raise fail(Reason.LOOP_COMPLAINT, "the event loop reported a problem while your registry ran.",
                   measured="; ".join(complaint_text(c) for c in unexplained[:3]),
                   expected="no complaint in the loop's exception handler",
                   hint="Every task's outcome must be retrieved (task.exception() in a done callback, or awaiting it).")
    never_awaited = [w for w in warned if issubclass(w.category, RuntimeWarning) and "never awaited" in str(w.message)]
    if never_awaited:
        raise fail(Reason.NOT_AWAITED, "a coroutine given to spawn() was never run.", measured=str(never_awaited[0].message),
                   expected="spawn() wraps the coroutine in a task that runs it",
                   hint="spawn() must create a task from the coroutine: `asyncio.create_task(coro, name=name)`.")
    return passed("spawned tasks survived gc.collect(), one failure gave one ERROR with its traceback, a cancel "
                  "stayed quiet, len() went back to 0, and drain() kept its timeout.", measured=drained)


async def _survives_gc(registry: Any, complaints: list[dict[str, Any]]) -> None:
    loop = asyncio.get_running_loop()
    router: weakref.WeakSet[asyncio.Future[str]] = weakref.WeakSet()  # pending replies, held weakly
    finished: list[str] = []

    async def wait_for_reply() -> None:
        reply = loop.create_future()
        router.add(reply)
        finished.append(await reply)

    task = registry.spawn(wait_for_reply(), name="check-waits-for-a-reply")
    if not isinstance(task, asyncio.Task):
        raise fail(Reason.NOT_A_TASK, "spawn() did not return the task it created.", measured=f"it returned {task!r:.80}",
                   expected="an asyncio.Task", hint="Return the task from spawn(): callers may want to cancel it.")
    if task.get_name() != "check-waits-for-a-reply":
        raise fail(Reason.NAME_IGNORED, "spawn() ignored its `name` argument.", measured=f"the task is named {task.get_name()!r}",
                   expected="'check-waits-for-a-reply'", hint="Pass it on: `asyncio.create_task(coro, name=name)`.")
    alive = weakref.ref(task)
    del task
    for _ in range(3):  # let it start and park on its future
        await asyncio.sleep(0)
    gc.collect()
    destroyed = [c for c in complaints if DESTROYED in str(c.get("message", ""))]
    if destroyed or alive() is None:
        for c in destroyed:
            complaints.remove(c)
        raise fail(Reason.TASK_LOST, "a task whose only reference was your registry was garbage-collected while it "
                   "was still waiting.",
                   measured="after gc.collect(): "
                            + (complaint_text(destroyed[0]) if destroyed else "the task object was gone"),
                   expected="the task survives gc.collect() and completes",
                   hint="The loop holds tasks only weakly (and so does a WeakSet). Keep a strong reference "
                        "to every task until it is done.")
    for reply in list(router):
        reply.set_result("reply")
    for _ in range(50):
        if finished:
            break
        await asyncio.sleep(0.01)
    if not finished:
        raise fail(Reason.TASK_LOST, "the task survived gc.collect() but never completed.", measured="its reply was "
                   "delivered, and 0.5 s later it had not finished", expected="the task completes",
                   hint="spawn() should run the coroutine as it is, in a task of its own.")


async def _failure_logged_once(registry: Any, records: list[logging.LogRecord], complaints: list[dict[str, Any]],
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
    errors = [r for r in mine if r.levelno >= logging.ERROR]
    unretrieved = [c for c in complaints if "never retrieved" in str(c.get("message", ""))]
    if not errors:
        seen = ", ".join(f"{r.levelname}: {r.getMessage()[:60]}" for r in mine) or "nothing"
        if unretrieved:
            seen += "; the loop said 'Task exception was never retrieved'"
            for c in unretrieved:
                complaints.remove(c)
        raise fail(Reason.NOT_LOGGED, "a background task failed and your registry did not log it at ERROR.",
                   measured=f"LookupError('{text}') raised in a spawned task; logged: {seen}",
                   expected="one ERROR record with the traceback", hint="In the done callback, when the task "
                   "failed, `logger.error(..., exc_info=task.exception())`.")
    if len(errors) > 1:
        raise fail(Reason.LOGGED_TWICE, "one failure was logged more than once at ERROR.",
                   measured=f"{len(errors)} ERROR records for one LookupError: "
                            + " | ".join(r.getMessage()[:50] for r in errors[:3]),
                   expected="exactly one", hint="Log in one place only: the done callback (or a wrapper around "
                   "the coroutine), not both, and don't re-raise into a second handler.")
    record = errors[0]
    if not record.exc_info or record.exc_info[1] is None or record.exc_info[2] is None:
        raise fail(Reason.NO_TRACEBACK, "the failure was logged at ERROR, but without its traceback.",
                   measured=f"{record.levelname}: {record.getMessage()[:100]!r} with no exc_info",
                   expected="exc_info set to the task's exception", hint="Pass the exception as exc_info: "
                   "`logger.error(\"%s failed\", task.get_name(), exc_info=exc)`. The traceback says where it failed.")


async def _cancel_is_quiet(registry: Any, records: list[logging.LogRecord], complaints: list[dict[str, Any]]) -> None:
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
    crashed = [c for c in complaints[before_complaints:] if isinstance(c.get("exception"), BaseException)
               or "callback" in str(c.get("message", "")).lower()]
    if crashed:
        for c in crashed:
            complaints.remove(c)
        raise fail(Reason.CALLBACK_CRASHED, "when a spawned task was cancelled, your done callback raised.",
                   measured=complaint_text(crashed[0]), expected="a cancelled task passes through the callback quietly",
                   hint="`task.exception()` raises CancelledError on a cancelled task. Check `task.cancelled()` first.")
    if not task.cancelled():
        raise fail(Reason.CANCELLATION_SWALLOWED, "a spawned task was cancelled, but it did not end cancelled.",
                   measured=f"task.cancelled() is False ({'done' if task.done() else 'still running'})",
                   expected="cancel() cancels the task", hint="Don't catch BaseException (or CancelledError) "
                   "around the coroutine: a cancellation must propagate.")
    loud = [r for r in records[before_records:] if r.levelno >= logging.ERROR]
    if loud:
        raise fail(Reason.CANCEL_LOGGED, "a plain cancel was logged at ERROR.",
                   measured=f"{loud[0].levelname}: {loud[0].getMessage()[:100]!r}",
                   expected="nothing at ERROR for a cancelled task (DEBUG or INFO is fine)",
                   hint="A cancellation is an order to stop (a shutdown, a timeout), not a failure: skip cancelled tasks.")


async def _no_leak(registry: Any) -> None:
    async def short() -> None:
        await asyncio.sleep(0.05)

    tasks = [registry.spawn(short(), name=f"check-short-{i}") for i in range(3)]
    live = len(registry)
    if live < 3:
        raise fail(Reason.WRONG_LEN, "len() did not count the running tasks.", measured=f"3 tasks just spawned, len() = {live}",
                   expected="len() >= 3", hint="len() should return how many spawned tasks are still running.")
    await asyncio.wait(tasks, timeout=2)
    del tasks
    await _settle()
    left = len(registry)
    if left:
        raise fail(Reason.FINISHED_TASKS_KEPT, "finished tasks stay in your registry: it grows with every task ever spawned.",
                   measured=f"len() = {left} after every spawned task had finished",
                   expected="len() = 0", hint="Remove each task when it is done: "
                   "`task.add_done_callback(self._tasks.discard)` (or in your done callback).")


async def _drain_is_bounded(registry: Any) -> str:
    quick_done: list[bool] = []

    async def quick() -> None:
        await asyncio.sleep(QUICK)
        quick_done.append(True)

    async def never_ends() -> None:
        await asyncio.sleep(3600)

    registry.spawn(quick(), name="check-quick")
    endless = registry.spawn(never_ends(), name="check-never-ends")
    started = time.perf_counter()
    raised: BaseException | None = None
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT + DRAIN_GUARD) as guard:
            await registry.drain(DRAIN_TIMEOUT)
    except TimeoutError as exc:
        if guard.expired():
            endless.cancel()
            raise fail(Reason.DRAIN_NO_TIMEOUT, f"drain({DRAIN_TIMEOUT}) was still waiting {DRAIN_TIMEOUT + DRAIN_GUARD:.1f} s "
                       "later, for a task that never ends.", measured="the check had to stop it",
                       expected=f"drain returns after about {DRAIN_TIMEOUT} s, having cancelled what was left",
                       hint="Wait with a limit (`asyncio.wait(tasks, timeout=timeout)`), then cancel what is "
                            "still pending.") from None
        raised = exc
    except Exception as exc:
        raised = exc
    took = time.perf_counter() - started
    if raised is not None:
        endless.cancel()
        raise fail(Reason.DRAIN_RAISED, "drain() raised instead of returning.",
                   measured=f"{type(raised).__name__}: {raised}".rstrip(": ") + f", after {took:.2f} s",
                   expected="drain returns None after cancelling what is left",
                   hint="A shutdown calls drain and carries on: catch the timeout inside drain "
                        "(`asyncio.wait(..., timeout=...)` does not raise).")
    await _settle()
    measured = f"drain({DRAIN_TIMEOUT}) returned after {took:.2f} s ({took / DRAIN_TIMEOUT:.1f}× the timeout)"
    if not quick_done:
        endless.cancel()
        raise fail(Reason.DRAIN_TOO_EAGER, "drain() cancelled a task that would have finished in time.",
                   measured=f"{measured}; a task needing {QUICK} s did not finish", expected="drain waits up to the "
                   "timeout before it cancels", hint="Wait first (`asyncio.wait(tasks, timeout=timeout)`), "
                   "then cancel only what is still pending.")
    if took < DRAIN_TIMEOUT * 0.7:
        endless.cancel()
        raise fail(Reason.DRAIN_TOO_EAGER, "drain() gave up on a running task before the timeout.",
                   measured=measured, expected=f"about {DRAIN_TIMEOUT} s", hint="Wait up to `timeout` for the "
                   "tasks that are still running, then cancel the rest.")
    if not endless.done():
        endless.cancel()
        raise fail(Reason.DRAIN_LEAVES_TASKS, "drain() returned, but a task that never ends was still running.",
                   measured=measured, expected="what is left after the timeout is cancelled",
                   hint="After the wait, call `.cancel()` on every pending task (and await them).")
    return f"{measured}; the quick task finished, the endless one was cancelled"


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
    started = time.perf_counter()
    raised: BaseException | None = None
    try:
        async with asyncio.timeout(STUBBORN_BOUND) as guard:
            await registry.drain(DRAIN_TIMEOUT)
    except TimeoutError as exc:
        if guard.expired():
            stubborn.cancel()
            await asyncio.wait({stubborn}, timeout=2)
            raise fail(Reason.DRAIN_UNBOUNDED, f"drain({DRAIN_TIMEOUT}) cancelled a task that ignores its cancellation, "
                       f"then waited for it: still waiting {STUBBORN_BOUND:.1f} s later.",
                       measured="the check had to stop it", expected=f"drain returns within {STUBBORN_BOUND:.1f} s "
                       "(the timeout, then a short grace for cancelled tasks)",
                       hint="A cancelled task may catch CancelledError and carry on. After cancelling, wait with a "
                            "limit too: `await asyncio.wait(pending, timeout=...)`, not `gather(*pending)`.") from None
        raised = exc
    except Exception as exc:
        raised = exc
    took = time.perf_counter() - started
    if not stubborn.done():
        stubborn.cancel()  # the second cancel ends it
        await asyncio.wait({stubborn}, timeout=2)
    if raised is not None:
        raise fail(Reason.DRAIN_RAISED, "drain() raised instead of returning.",
                   measured=f"{type(raised).__name__}: {raised}".rstrip(": ") + f", after {took:.2f} s",
                   expected="drain returns None", hint="A shutdown calls drain and carries on: don't let a "
                   "timeout escape from it.")
    if not swallowed.is_set():
        raise fail(Reason.DRAIN_LEAVES_TASKS, "drain() returned without cancelling a task that was still running.",
                   measured=f"drain({DRAIN_TIMEOUT}) returned after {took:.2f} s", expected="every task still running "
                   "after the timeout is cancelled", hint="After the wait, call `.cancel()` on every pending task.")
    return f"with a task that ignores its cancellation, drain returned after {took:.2f} s (bound {STUBBORN_BOUND:.1f} s)"


# -- 06-durable-worker ------------------------------------------------------------------------

JOBS = 20
VICTIM = 6  # the job whose first attempt holds its worker until the check kills it
LONG = 9  # a job whose handler runs LONG_SECONDS, two leases: without a heartbeat it is claimed again
STEAL = 16  # a job the check takes over mid-handler, as a worker would after the lease ran out
POISON = JOBS  # enqueued after the crash test: its handler raises on every attempt
THIEF = "check-06-thief"
HANDLER_MS = 100
LEASE = 1.5  # seconds; the check's workers get ASYNCLAB_LEASE_SECONDS=1.5
# Two leases: a survivor re-claims an unrenewed job within LEASE + POLL_SECONDS (0.1 s) of its claim,
# 1.4 s before the first run ends. Three leases cost every check another 1.5 s for no extra proof.
LONG_SECONDS = 2 * LEASE
WORKERS = ("A", "B", "C")  # one is killed; two survivors, so a job whose lease runs out has someone to take it
READY_WITHIN = 15.0
VICTIM_WITHIN = 10.0
STEAL_WITHIN = 10.0
STOP_WITHIN = 3.0
RECLAIM_WITHIN = LONG_SECONDS + LEASE * 2 + 4.0  # after the kill: the long job, the lease, a busy machine
POISON_WITHIN = 8.0  # MAX_ATTEMPTS quick retries (or a backoff shorter than the lease), on a busy machine


@exercise(str(EXERCISES / "ex06_durable_worker" / "check.py"))  # hints, deadline: exercise.toml
async def check_durable_worker(module: ModuleType, lab: Lab) -> Verdict:
    enqueue = require_coroutine_function(module, "enqueue")
    require_coroutine_function(module, "work")
    folder = str(Path(module.__file__ or "").resolve().parent)  # noqa: ASYNC240  (one local stat before the check starts)
    schema = await create_jobs_schema(lab.pg.dsn, prefix="chk06")
    try:
        pool = await open_pool(lab.pg.dsn, schema, application_name="asynclab-check-06")
        try:
            return await _crash_test(module, enqueue, pool, lab.pg.dsn, schema, folder)
        finally:
            async with asyncio.timeout(5):
                await pool.close()
    finally:
        await drop_jobs_schema(lab.pg.dsn, schema)


async def _crash_test(module: ModuleType, enqueue: Any, pool: Any, dsn: str, schema: str, folder: str) -> Verdict:
    await _probe_enqueue(enqueue, pool)
    async with WorkerLab(dsn, schema, victim=VICTIM, handler_ms=HANDLER_MS, lease_seconds=LEASE, long=LONG,
                         long_ms=int(LONG_SECONDS * 1000), poison=POISON, steal=STEAL) as wl:
        for name in WORKERS:
            await wl.start(name, module=module.__name__, path=folder)
        if not await wl.wait_ready(WORKERS, within=READY_WITHIN):
            _raise_worker_error(wl, "before it was ready")
            raise fail(Reason.WORKER_CRASHED, "the worker processes did not start.", measured=_outputs(wl),
                       hint="Run your exercise cell: does it import and run without errors?")
        await _enqueue_all(enqueue, pool)
        victim = await wl.wait_for_victim(VICTIM_WITHIN)
        _raise_worker_error(wl, "while it worked")
        if victim is None:
            _raise_if_quit(wl, [n for n in range(JOBS) if wl.done_counts()[n] == 0])
            started = sum(1 for e in wl.events() if e.kind == "start")
            raise fail(Reason.NO_PROGRESS, f"no worker started job {VICTIM} within {VICTIM_WITHIN:.0f} s.",
                       measured=f"{started} handler calls in all", expected=f"all {JOBS} jobs are taken, one by one",
                       hint="work() should loop until `stop` is set: claim a job, `await handler(payload)`, "
                            "mark it done; when there is none, sleep a little and look again.")
        victim.kill()
        survivors = [w for w in wl.workers.values() if w is not victim]
        stolen = await _steal_mid_job(wl, pool)
        await wl.wait_done(range(JOBS), within=RECLAIM_WITHIN)
        _raise_worker_error(wl, "while it worked")
        await asyncio.sleep(0.3)  # the last "done" is logged just before the row is marked done
        fenced = await _thief_finishes(pool, stolen)
        rows = {r["n"]: r for r in await pool.fetch(
            "SELECT id, (payload::jsonb ->> 'n')::int AS n, status, locked_until, locked_by, attempts, "
            "extract(epoch FROM locked_until - now()) AS lease_left FROM jobs")}
        counts = wl.done_counts()
        lost = [n for n in range(JOBS) if counts[n] == 0]
        # A job that completed but is still claimable (queued, running) was never marked done.
        unmarked = {n: r for n, r in rows.items() if counts[n] > 0 and r["status"] in ("queued", "running")}
        if lost and not unmarked:
            _raise_if_quit(wl, lost)
            _judge_lost(lost, rows)
        stuck = {n: r for n, r in rows.items() if r["status"] in ("queued", "running")}
        if any(n != LONG for n in stuck):  # the long job first gets its own verdict (a lease never renewed)
            unmarked = {n: r for n, r in unmarked.items() if n != LONG}
            stuck = {n: r for n, r in stuck.items() if n != LONG}
            n, row = sorted((unmarked or stuck).items())[0]
            again = max(counts.values()) if counts else 0
            raise fail(Reason.NOT_MARKED_DONE, f"{len(stuck)} job row(s) still say 'queued' or 'running' although "
                       f"{len(unmarked) or 'every'} job(s) completed.",
                       measured=f"job n={n} completed {counts[n]}×, and its row says {row['status']!r} "
                                f"(attempts {row['attempts']}); {len(lost)} job(s) never completed; "
                                f"the busiest job ran {again}×",
                       expected="a completed job is marked 'done' (or deleted)", hint="After `await handler(...)`, "
                       "`UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1`: a job left 'running' "
                       "is delivered again when its lease runs out, over and over.")
        _judge_long_job(wl, victim.name)
        if LONG in stuck:
            row = stuck[LONG]
            raise fail(Reason.NOT_MARKED_DONE, f"job n={LONG} completed, but its row still says {row['status']!r}.",
                       measured=f"attempts {row['attempts']}, locked_by {row['locked_by']!r}",
                       expected="a completed job is marked 'done'", hint="Mark the job done after the handler "
                       "returns, fenced by the claim that ran it.")
        dupes = [(n, k) for n, k in _duplicates(wl, victim.name) if n != LONG]
        if dupes:
            raise fail(Reason.DUPLICATE_DELIVERY, "two live workers ran the same job.",
                       measured=", ".join(f"job n={n} completed {k}×" for n, k in dupes[:3]),
                       expected="each job runs once, and again only after its worker died",
                       hint="Claim with one atomic statement and `FOR UPDATE SKIP LOCKED`: a SELECT followed by an "
                            "UPDATE lets two workers read the same 'queued' row.")
        overlap = wl.max_overlap(exclude_victim=False)
        if overlap < 2:
            raise fail(Reason.WORKERS_SERIAL, "the workers never ran jobs at the same time: one always waited "
                       "for another.", measured=f"at most {overlap} handler running at once, with {len(WORKERS)} workers",
                       expected="2 jobs at once or more", hint="Without SKIP LOCKED, a worker blocks on the row another "
                       "worker has locked, for as long as that worker's transaction lasts. Add `SKIP LOCKED` to "
                       "`FOR UPDATE`, or keep the claim's transaction short.")
        if fenced is not None:
            raise fail(Reason.COMPLETION_NOT_FENCED, fenced,
                       expected="a worker whose claim was taken over changes nothing (its UPDATE matches 0 rows)",
                       hint="Fence every UPDATE after the claim by the claim itself: `WHERE id = $1 AND locked_by = $2 "
                            "AND attempts = $3`, with the values the claim returned. Then a worker whose lease ran out "
                            "cannot mark done (or fail) a job another worker holds.")
        poison = await _poison_job(module, enqueue, pool, wl)
        for worker in survivors:
            worker.request_stop()
        names = {w.name for w in survivors}
        returned = await wl.wait_until(lambda ev: names <= {e.worker for e in ev if e.kind == "returned"}, STOP_WITHIN)
        _raise_worker_error(wl, "when it was asked to stop")
        if not returned:
            raise fail(Reason.STOP_IGNORED, f"work() did not return within {STOP_WITHIN:.0f} s of `stop` being set.",
                       measured="the check had to kill the worker", expected="work() returns soon after stop.set()",
                       hint="Check `stop.is_set()` in the loop, and don't sleep long between looks: "
                            "`asyncio.wait_for(stop.wait(), POLL_SECONDS)` wakes up at once on stop.")
        redone = max((e.t for e in wl.events() if e.kind == "done" and e.n == VICTIM), default=0.0)
        after = redone - (victim.killed_at or redone)
        return passed(f"{JOBS} jobs, {len(WORKERS)} worker processes, one SIGKILLed mid-job: every job completed once "
                      "(the long one too), none stayed claimed, a taken-over job was not marked done by its old "
                      "worker, the poison job was failed, and the survivors stopped when asked.",
                      measured=f"0 lost, 0 stuck, up to {overlap} jobs at once; job n={VICTIM} was done again "
                               f"{after:.1f} s after the kill (lease {LEASE} s); {poison}")


async def _steal_mid_job(wl: WorkerLab, pool: Any) -> dict[str, Any] | None:
    """Take job STEAL over while its handler runs, as a worker would once the lease ran out; then let it finish.

    Returns the row as the thief left it, or None if no worker reached the job (other verdicts explain why)."""
    if not await wl.wait_until(lambda ev: any(e.kind == "steal-wait" for e in ev), STEAL_WITHIN):
        wl.release_steal()
        return None
    async with asyncio.timeout(10):
        row = await pool.fetchrow(
            "UPDATE jobs SET locked_by = $1, attempts = attempts + 1, locked_until = now() + interval '60 seconds' "
            "WHERE id = (SELECT id FROM jobs WHERE (payload::jsonb ->> 'n')::int = $2 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, status, attempts, locked_by", THIEF, STEAL)
    wl.release_steal()
    # No row: deleted, or row-locked by the worker's own open transaction, which no one can take over while
    # that worker lives (a transaction-held lease is fenced by PostgreSQL itself).
    return dict(row) if row is not None else None


async def _thief_finishes(pool: Any, stolen: dict[str, Any] | None) -> str | None:
    """After the old worker's handler returned: a verdict if its completion overwrote the thief's claim.

    Either way the thief then finishes the job, so the rest of the check sees a done row."""
    if stolen is None:
        return None
    async with asyncio.timeout(10):
        row = await pool.fetchrow("SELECT status, locked_by, attempts FROM jobs WHERE id = $1", stolen["id"])
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now(), locked_until = NULL "
                           "WHERE id = $1 AND locked_by = $2", stolen["id"], THIEF)
    if row is None or row["locked_by"] != THIEF or row["status"] != "running":
        state = "gone" if row is None else f"status {row['status']!r}, locked_by {row['locked_by']!r}"
        return (f"a worker whose claim on job n={STEAL} had been taken over (locked_by {THIEF!r}, attempts "
                f"{stolen['attempts']}) still changed the row when its handler returned: now {state}.")
    return None


def _judge_long_job(wl: WorkerLab, killed: str) -> None:
    runs = [e for e in wl.starts(LONG) if e.worker != killed]
    if len(runs) > 1:
        raise fail(Reason.LEASE_NOT_RENEWED, f"job n={LONG} ran {len(runs)}× at the same time: its handler needs "
                   f"{LONG_SECONDS:.1f} s, its lease ran out after {LEASE} s, and another worker claimed it.",
                   measured=f"started by worker {runs[0].worker}, then by worker {runs[1].worker} "
                            f"{runs[1].t - runs[0].t:.1f} s later, while the first was still running",
                   expected="one run: the worker renews its lease while the handler runs",
                   hint="Run a heartbeat next to the handler: a task that every HEARTBEAT_SECONDS extends "
                        "`locked_until` (fenced by the claim), cancelled when the handler returns.")


async def _poison_job(module: ModuleType, enqueue: Any, pool: Any, wl: WorkerLab) -> str:
    """A job whose handler raises every time: retried up to MAX_ATTEMPTS, then 'failed'; work() carries on."""
    limit = getattr(module, "MAX_ATTEMPTS", 3)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 3
    async with asyncio.timeout(10):
        job_id = await enqueue(pool, {"n": POISON, "check": "06-durable-worker", "poison": True})

    async def status() -> str:
        async with asyncio.timeout(5):
            return str(await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job_id))

    deadline = time.monotonic() + POISON_WITHIN
    while time.monotonic() < deadline:
        if await status() == "failed" or len(wl.starts(POISON)) > limit + 2 or _crashed(wl):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # a retry in flight shows up now
    crashed = _crashed(wl)
    if crashed is not None:
        raise fail(Reason.HANDLER_ERROR_ENDS_WORK, f"a handler raised, and worker {crashed.worker} ended: its work() "
                   "let the exception out.", measured=crashed.text,
                   expected=f"the error is logged, the job retried up to MAX_ATTEMPTS ({limit}), and work() carries on",
                   hint="Wrap `await handler(...)` in `try/except Exception`: log it, then send the job back to "
                        "'queued' (or to 'failed' once `attempts >= MAX_ATTEMPTS`), and go on to the next job.")
    runs, final = len(wl.starts(POISON)), await status()
    if final != "failed" and runs > limit:
        raise fail(Reason.NO_RETRY_LIMIT, f"a job whose handler fails every time was tried {runs}× and is still "
                   f"{final!r}: it will be retried forever.", measured=f"{runs} attempts in {POISON_WITHIN:.0f} s, "
                   f"status {final!r}", expected=f"'failed' after MAX_ATTEMPTS ({limit}) attempts",
                   hint="When the handler raises and `attempts >= MAX_ATTEMPTS`, set status = 'failed' (the schema has "
                        "it): a poison job must stop taking a worker's time. The claim returns `attempts`.")
    if final != "failed" or runs != limit:
        raise fail(Reason.WRONG_RETRY_COUNT, f"a job whose handler fails every time should run MAX_ATTEMPTS ({limit}) "
                   "times, then be marked 'failed'.", measured=f"{runs} attempt(s), status {final!r}",
                   expected=f"{limit} attempts, status 'failed'",
                   hint="On an exception: `status = CASE WHEN attempts >= MAX_ATTEMPTS THEN 'failed' ELSE 'queued' END` "
                        "(fenced by the claim), so it is tried again at once, MAX_ATTEMPTS times in all.")
    return f"the poison job ran {runs}× and was marked 'failed'"


def _crashed(wl: WorkerLab) -> Any:
    return next((e for e in wl.events() if e.kind == "error" and "poison" in e.text), None)


async def _probe_enqueue(enqueue: Any, pool: Any) -> None:
    """Before any worker runs: one enqueue() must leave one row, whose id it returns. The row is then removed."""
    async with asyncio.timeout(10):
        job_id = await enqueue(pool, {"n": -1, "probe": "06-durable-worker"})
        rows = await pool.fetch("SELECT id, status FROM jobs")
        await pool.execute("DELETE FROM jobs")
    if not rows:
        raise fail(Reason.NOT_DURABLE, f"enqueue() returned {job_id!r}, but the jobs table is empty: the job lives only "
                   "in this process's memory, and dies with it.", measured="0 rows in jobs after enqueue()",
                   expected="1 row, status 'queued'", hint="INSERT each job into the jobs table: only what is in "
                   "PostgreSQL survives a crash, and other worker processes can only see what is there.")
    if isinstance(job_id, bool) or not isinstance(job_id, int) or [r["id"] for r in rows] != [job_id]:
        raise fail(Reason.WRONG_RESULT, "enqueue() should return the id of the row it inserted.",
                   measured=f"it returned {job_id!r:.60}; the table holds ids {[r['id'] for r in rows][:3]}",
                   expected="the new row's id (an int)", hint="`return await pool.fetchval(\"INSERT INTO jobs "
                   "(payload) VALUES ($1) RETURNING id\", json.dumps(payload))`")
    if rows[0]["status"] != "queued":
        raise fail(Reason.WRONG_RESULT, "enqueue() inserted a job that is not 'queued'.",
                   measured=f"status {rows[0]['status']!r}", expected="'queued' (the column's default)",
                   hint="Insert only the payload; let status default to 'queued'.")


async def _enqueue_all(enqueue: Any, pool: Any) -> None:
    async with asyncio.timeout(15):
        ids = [await enqueue(pool, {"n": n, "check": "06-durable-worker"}) for n in range(JOBS)]
    if len(set(ids)) != JOBS:
        raise fail(Reason.WRONG_RESULT, "enqueue() returned the same id for different jobs.", measured=f"{ids[:5]!r:.80}…",
                   expected=f"{JOBS} distinct ids", hint="Return the id of the row you inserted (`RETURNING id`).")


def _raise_worker_error(wl: WorkerLab, when: str) -> None:
    for e in wl.events():
        if e.kind == "error":
            raise fail(Reason.WORKER_CRASHED, f"worker {e.worker} crashed {when}.", measured=e.text,
                       expected="work() runs until stop is set", hint="Run your cell again, then call work() "
                       "yourself against a pool to see the whole traceback.")
        if e.kind == "bad-payload":
            raise fail(Reason.WRONG_PAYLOAD, "work() called the handler with something that is not the job's payload.",
                       measured=f"handler({e.text})", expected="handler(payload), the dict given to enqueue()",
                       hint="asyncpg returns jsonb as text: `await handler(json.loads(row['payload']))`.")


def _lost_text(lost: list[int]) -> str:
    return f"{len(lost)} of {JOBS} jobs never completed (n={', '.join(map(str, lost[:6]))}{', …' if len(lost) > 6 else ''})"


def _raise_if_quit(wl: WorkerLab, lost: list[int]) -> None:
    early = [e for e in wl.events() if e.kind == "returned" and e.text == "early"]
    if early:
        raise fail(Reason.WORKER_QUIT, "work() returned on its own, before `stop` was set, and the jobs it left behind "
                   "were lost.", measured=f"{_lost_text(lost)}; worker {early[0].worker} returned early",
                   expected="work() keeps looking for jobs until stop is set", hint="When no job is ready, wait a "
                   "little (POLL_SECONDS) and look again: more jobs may come, and a dead worker's job comes back "
                   "when its lease runs out.")


def _judge_lost(lost: list[int], rows: dict[int, Any]) -> None:
    n = VICTIM if VICTIM in lost else lost[0]
    row = rows.get(n)
    measured = _lost_text(lost)
    if row is None:
        raise fail(Reason.JOB_LOST, "the job the killed worker was running is gone from the table: it was removed "
                   "before its handler finished.", measured=f"{measured}; no row for job n={n}",
                   expected=f"job n={n} runs again on the other worker", hint="Delete (or mark done) a job only "
                   "after `await handler(...)` returns. Claim it by marking it 'running' with a lease instead.")
    status, lease_left = row["status"], row["lease_left"]
    if status == "running" and row["locked_until"] is None:
        raise fail(Reason.JOB_LOST, f"job n={n} was claimed by the worker that was killed, and stays 'running' forever: "
                   "no lease, so no other worker ever takes it back.",
                   measured=f"{measured}; job n={n}: status 'running', locked_until NULL, attempts {row['attempts']}",
                   expected="after the lease runs out, the other worker runs it", hint="Set `locked_until = now() + "
                   "LEASE_SECONDS` when you claim, and let the claim take 'running' jobs whose lease has run out.")
    if status == "running" and lease_left is not None and lease_left > LEASE * 2:
        raise fail(Reason.LEASE_IGNORED, f"job n={n} is leased for far longer than LEASE_SECONDS.",
                   measured=f"{measured}; its lease still has {float(lease_left):.0f} s to run",
                   expected=f"a lease of LEASE_SECONDS ({LEASE} s in the check)", hint="Use LEASE_SECONDS from the "
                   "setup cell: `locked_until = now() + make_interval(secs => $1)` with LEASE_SECONDS as $1.")
    if status == "running":
        raise fail(Reason.JOB_LOST, f"job n={n}'s lease ran out, but no worker took it again.",
                   measured=f"{measured}; job n={n}: status 'running', lease over {-float(lease_left or 0):.1f} s ago",
                   expected="the claim also takes 'running' jobs whose lease has run out", hint="Claim `WHERE status "
                   "= 'queued' OR (status = 'running' AND locked_until < now())`.")
    raise fail(Reason.JOB_LOST, f"job n={n} never completed.", measured=f"{measured}; its row: status {status!r}, "
               f"attempts {row['attempts']}", expected="every job completes at least once",
               hint="Is work() still claiming jobs after the crash? Does it take every kind of claimable job?")


def _duplicates(wl: WorkerLab, killed: str) -> list[tuple[int, int]]:
    """Jobs completed more than once, where not one of the completions was by the killed worker."""
    by_job: dict[int, list[str]] = {}
    for e in wl.events():
        if e.kind == "done" and e.n is not None:
            by_job.setdefault(e.n, []).append(e.worker)
    return [(n, len(ws)) for n, ws in sorted(by_job.items()) if len(ws) > 1 and killed not in ws]


def _outputs(wl: WorkerLab) -> str:
    texts = [f"{w.name}: {w.output().strip().splitlines()[-1][:160]}" for w in wl.workers.values() if w.output().strip()]
    return "; ".join(texts) or "no output"

