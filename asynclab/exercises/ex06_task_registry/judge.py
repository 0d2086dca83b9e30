"""The verdicts of 06-task-registry, from what check.py recorded of each step (no loop: unit-testable).

One judge per promise of the exercise, in the order the check asks them; each takes the step's
record and returns (or returns the text for the verdict's `measured` line), or raises `fail(...)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ...grading.reasons import Reason
from ...grading.registry import fail

DRAIN_TIMEOUT = 0.6  # what the check passes to drain()
QUICK = 0.15  # a task that drain must let finish
DRAIN_GUARD = 3.0  # seconds past the timeout before the check stops a drain that does not return
STUBBORN_BOUND = 2 * DRAIN_TIMEOUT + 0.9  # drain + a grace for cancelled tasks; the solution takes 2 × DRAIN_TIMEOUT
TOO_EAGER = 0.7  # drain() returning before this share of its timeout gave up on a running task
METHODS = ("spawn", "drain", "__len__")
SPAWNED_NAME = "check-waits-for-a-reply"


def judge_class(name: str, missing: list[str], drain_is_async: bool) -> None:
    """The class has the exercise's methods, and drain is a coroutine function."""
    if missing:
        raise fail(Reason.MISSING_METHOD, f"{name} has no {missing[0]}().", expected="spawn(coro, *, name=None), "
                   "async drain(timeout) and __len__()", hint="Keep the method names from the exercise text.")
    if not drain_is_async:
        raise fail(Reason.NOT_ASYNC, "drain is not an async method.", expected="async def drain(self, timeout: float) -> None",
                   hint="drain waits for tasks, so it must be `async def` and awaited.")


@dataclass
class Spawned:
    """What spawn(coro, name=SPAWNED_NAME) returned."""

    is_task: bool
    shown: str  # its repr, for the verdict
    name: str | None = None  # the task's name, when it is a task


def judge_spawned(m: Spawned) -> None:
    if not m.is_task:
        raise fail(Reason.NOT_A_TASK, "spawn() did not return the task it created.", measured=f"it returned {m.shown:.80}",
                   expected="an asyncio.Task", hint="Return the task from spawn(): callers may want to cancel it.")
    if m.name != SPAWNED_NAME:
        raise fail(Reason.NAME_IGNORED, "spawn() ignored its `name` argument.", measured=f"the task is named {m.name!r}",
                   expected=f"{SPAWNED_NAME!r}", hint="Pass it on: `asyncio.create_task(coro, name=name)`.")


@dataclass
class Survival:
    """A task whose only reference is the registry, after gc.collect(), then after its reply came."""

    destroyed: list[str]  # the loop's "Task was destroyed but it is pending!" complaints, as text
    alive: bool  # the task object still existed after gc.collect()
    completed: bool | None = None  # it finished once its reply was delivered (None: not delivered yet)


def judge_survived(m: Survival) -> None:
    if m.destroyed or not m.alive:
        raise fail(Reason.TASK_LOST, "a task whose only reference was your registry was garbage-collected while it "
                   "was still waiting.",
                   measured="after gc.collect(): " + (m.destroyed[0] if m.destroyed else "the task object was gone"),
                   expected="the task survives gc.collect() and completes",
                   hint="The loop holds tasks only weakly (and so does a WeakSet). Keep a strong reference "
                        "to every task until it is done.")
    if m.completed is False:
        raise fail(Reason.TASK_LOST, "the task survived gc.collect() but never completed.", measured="its reply was "
                   "delivered, and 0.5 s later it had not finished", expected="the task completes",
                   hint="spawn() should run the coroutine as it is, in a task of its own.")


@dataclass
class FailureLogs:
    """What was logged about one spawned task that raised LookupError(text)."""

    text: str
    records: list[logging.LogRecord]  # the records that mention it
    unretrieved: bool = False  # the loop said "Task exception was never retrieved"


def judge_failure_logged(m: FailureLogs) -> None:
    errors = [r for r in m.records if r.levelno >= logging.ERROR]
    if not errors:
        seen = ", ".join(f"{r.levelname}: {r.getMessage()[:60]}" for r in m.records) or "nothing"
        if m.unretrieved:
            seen += "; the loop said 'Task exception was never retrieved'"
        raise fail(Reason.NOT_LOGGED, "a background task failed and your registry did not log it at ERROR.",
                   measured=f"LookupError('{m.text}') raised in a spawned task; logged: {seen}",
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


@dataclass
class Cancelled:
    """A spawned task cancelled by the check: what the loop and the logger saw."""

    crashed: list[str]  # complaints about a done callback that raised, as text
    cancelled: bool  # task.cancelled()
    done: bool
    loud: list[logging.LogRecord] = field(default_factory=list)  # records at ERROR or above since the cancel


def judge_cancel(m: Cancelled) -> None:
    if m.crashed:
        raise fail(Reason.CALLBACK_CRASHED, "when a spawned task was cancelled, your done callback raised.",
                   measured=m.crashed[0], expected="a cancelled task passes through the callback quietly",
                   hint="`task.exception()` raises CancelledError on a cancelled task. Check `task.cancelled()` first.")
    if not m.cancelled:
        raise fail(Reason.CANCELLATION_SWALLOWED, "a spawned task was cancelled, but it did not end cancelled.",
                   measured=f"task.cancelled() is False ({'done' if m.done else 'still running'})",
                   expected="cancel() cancels the task", hint="Don't catch BaseException (or CancelledError) "
                   "around the coroutine: a cancellation must propagate.")
    if m.loud:
        raise fail(Reason.CANCEL_LOGGED, "a plain cancel was logged at ERROR.",
                   measured=f"{m.loud[0].levelname}: {m.loud[0].getMessage()[:100]!r}",
                   expected="nothing at ERROR for a cancelled task (DEBUG or INFO is fine)",
                   hint="A cancellation is an order to stop (a shutdown, a timeout), not a failure: skip cancelled tasks.")


def judge_len_running(live: int) -> None:
    """len() right after spawning three short tasks."""
    if live < 3:
        raise fail(Reason.WRONG_LEN, "len() did not count the running tasks.", measured=f"3 tasks just spawned, len() = {live}",
                   expected="len() >= 3", hint="len() should return how many spawned tasks are still running.")


def judge_len_finished(left: int) -> None:
    """len() once every spawned task has finished."""
    if left:
        raise fail(Reason.FINISHED_TASKS_KEPT, "finished tasks stay in your registry: it grows with every task ever spawned.",
                   measured=f"len() = {left} after every spawned task had finished",
                   expected="len() = 0", hint="Remove each task when it is done: "
                   "`task.add_done_callback(self._tasks.discard)` (or in your done callback).")


@dataclass
class Drain:
    """drain(DRAIN_TIMEOUT) with a quick task and a never-ending one."""

    took: float  # seconds until it returned or raised
    expired: bool = False  # still waiting DRAIN_GUARD s past its timeout: the check stopped it
    raised: str | None = None  # "TimeoutError: ..." when drain() raised
    quick_done: bool = True  # the quick task finished
    endless_done: bool = True  # the never-ending task was over (cancelled) when drain returned


def _raised(raised: str, took: float) -> str:
    return raised.rstrip(": ") + f", after {took:.2f} s"


def judge_drain(m: Drain) -> str:
    if m.expired:
        raise fail(Reason.DRAIN_NO_TIMEOUT, f"drain({DRAIN_TIMEOUT}) was still waiting {DRAIN_TIMEOUT + DRAIN_GUARD:.1f} s "
                   "later, for a task that never ends.", measured="the check had to stop it",
                   expected=f"drain returns after about {DRAIN_TIMEOUT} s, having cancelled what was left",
                   hint="Wait with a limit (`asyncio.wait(tasks, timeout=timeout)`), then cancel what is "
                        "still pending.")
    if m.raised is not None:
        raise fail(Reason.DRAIN_RAISED, "drain() raised instead of returning.", measured=_raised(m.raised, m.took),
                   expected="drain returns None after cancelling what is left",
                   hint="A shutdown calls drain and carries on: catch the timeout inside drain "
                        "(`asyncio.wait(..., timeout=...)` does not raise).")
    measured = f"drain({DRAIN_TIMEOUT}) returned after {m.took:.2f} s ({m.took / DRAIN_TIMEOUT:.1f}× the timeout)"
    if not m.quick_done:
        raise fail(Reason.DRAIN_TOO_EAGER, "drain() cancelled a task that would have finished in time.",
                   measured=f"{measured}; a task needing {QUICK} s did not finish", expected="drain waits up to the "
                   "timeout before it cancels", hint="Wait first (`asyncio.wait(tasks, timeout=timeout)`), "
                   "then cancel only what is still pending.")
    if m.took < DRAIN_TIMEOUT * TOO_EAGER:
        raise fail(Reason.DRAIN_TOO_EAGER, "drain() gave up on a running task before the timeout.",
                   measured=measured, expected=f"about {DRAIN_TIMEOUT} s", hint="Wait up to `timeout` for the "
                   "tasks that are still running, then cancel the rest.")
    if not m.endless_done:
        raise fail(Reason.DRAIN_LEAVES_TASKS, "drain() returned, but a task that never ends was still running.",
                   measured=measured, expected="what is left after the timeout is cancelled",
                   hint="After the wait, call `.cancel()` on every pending task (and await them).")
    return f"{measured}; the quick task finished, the endless one was cancelled"


@dataclass
class StubbornDrain:
    """drain(DRAIN_TIMEOUT) with a task that catches its CancelledError and carries on."""

    took: float
    expired: bool = False  # still waiting STUBBORN_BOUND s after it started: the check stopped it
    raised: str | None = None
    swallowed: bool = True  # the task saw its cancellation (drain cancelled it)


def judge_stubborn_drain(m: StubbornDrain) -> str:
    if m.expired:
        raise fail(Reason.DRAIN_UNBOUNDED, f"drain({DRAIN_TIMEOUT}) cancelled a task that ignores its cancellation, "
                   f"then waited for it: still waiting {STUBBORN_BOUND:.1f} s later.",
                   measured="the check had to stop it", expected=f"drain returns within {STUBBORN_BOUND:.1f} s "
                   "(the timeout, then a short grace for cancelled tasks)",
                   hint="A cancelled task may catch CancelledError and carry on. After cancelling, wait with a "
                        "limit too: `await asyncio.wait(pending, timeout=...)`, not `gather(*pending)`.")
    if m.raised is not None:
        raise fail(Reason.DRAIN_RAISED, "drain() raised instead of returning.", measured=_raised(m.raised, m.took),
                   expected="drain returns None", hint="A shutdown calls drain and carries on: don't let a "
                   "timeout escape from it.")
    if not m.swallowed:
        raise fail(Reason.DRAIN_LEAVES_TASKS, "drain() returned without cancelling a task that was still running.",
                   measured=f"drain({DRAIN_TIMEOUT}) returned after {m.took:.2f} s", expected="every task still running "
                   "after the timeout is cancelled", hint="After the wait, call `.cancel()` on every pending task.")
    return f"with a task that ignores its cancellation, drain returned after {m.took:.2f} s (bound {STUBBORN_BOUND:.1f} s)"


def judge_quiet_loop(complaints: list[str], never_awaited: list[str]) -> None:
    """Nothing else reached the loop's exception handler, and every coroutine given to spawn() ran."""
    if complaints:
        raise fail(Reason.LOOP_COMPLAINT, "the event loop reported a problem while your registry ran.",
                   measured="; ".join(complaints[:3]),
                   expected="no complaint in the loop's exception handler",
                   hint="Every task's outcome must be retrieved (task.exception() in a done callback, or awaiting it).")
    if never_awaited:
        raise fail(Reason.NOT_AWAITED, "a coroutine given to spawn() was never run.", measured=never_awaited[0],
                   expected="spawn() wraps the coroutine in a task that runs it",
                   hint="spawn() must create a task from the coroutine: `asyncio.create_task(coro, name=name)`.")
