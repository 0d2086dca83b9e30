"""The check of notebook 00 · Welcome: the warm-up that teaches how check cells work.

00-warm-up
    `async def pause(seconds: float) -> str` waits `seconds`, then returns "done", without
    holding the event loop. The check:
    1. requires an `async def` ("not-async");
    2. calls `pause` once inside `find_blocking()`, to name a blocking call and its line in the
       verdict ("time.sleep at line 6 of your cell");
    3. calls it ten times at once, with pauses from 0.1 to 0.3 s, under a heartbeat:
       - the heartbeat must keep ticking ("loop-blocked": the starter's time.sleep turns the ten
         pauses into a 2 s queue, and no heartbeat runs at all);
       - every call returns "done" ("wrong-result");
       - every call waits at least about its own `seconds` ("too-fast": `asyncio.sleep(seconds)`
         without `await` returns at once, and Python warns that the coroutine was never awaited);
       - every call returns within about twice its `seconds`, and all ten within 2.5 × the longest
         ("too-slow"; also when they have not returned after GIVE_UP seconds);
       - `asyncio.run()` or `loop.run_until_complete()` inside `pause` fails with reason
         "asyncio-run" (notebook 00 shows why they cannot work in a running loop).
    The loop's default thread pool gets one thread per call, so an answer that moves `time.sleep`
    to a thread (`asyncio.to_thread`) passes on any machine: the warm-up is about the loop, and
    notebook 01 is where the shared pool's size matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from ...grading.loopwatch import Source
from ...grading.measure import STALL_SHARE, loop_health, require_coroutine_function, unawaited_coroutines
from ...grading.reasons import Reason
from ...grading.registry import Verdict, exercise, fail, passed
from ...instruments.loop_monitor import LoopMonitor
from ...lab import Lab

EXERCISE_ID = "00-warm-up"
PAUSES = (0.1, 0.15, 0.2, 0.25, 0.3) * 2  # ten calls at once, each with its own length
LONGEST = max(PAUSES)
PROBE_PAUSE = 0.05  # the single call that find_blocking watches
EARLY = 0.9  # a call may return this share of its `seconds` early, less EARLY_SLACK, no more:
EARLY_SLACK = 0.02  # the loop may run a timer one clock tick early (15.6 ms on Windows)
LATE = 2.0  # ... and take at most this many times its `seconds`, plus SLACK
SLACK = 0.1  # seconds, for a busy 2-core machine
TOTAL = 2.5  # all ten calls together: at most this many times the longest pause
GIVE_UP = 5.0  # seconds without an answer from the ten calls: stop waiting


@contextlib.contextmanager
def _threads_enough(loop: asyncio.AbstractEventLoop, workers: int) -> Iterator[None]:
    """Give the loop a default executor with `workers` threads for the block, then restore it."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asynclab-00-default")
    previous = getattr(loop, "_default_executor", None)
    loop.set_default_executor(pool)
    try:
        yield
    finally:
        if previous is not None:  # else asyncio.run() shuts ours down with the loop
            loop.set_default_executor(previous)
            pool.shutdown(wait=False)


async def _blocking_calls(module: ModuleType, pause: Any) -> list[str]:
    """Name what blocks the loop in one short call: ["time.sleep (line 6 of your cell)"]."""
    from ...instruments.blocking import find_blocking

    cell = Source.of_module(module, EXERCISE_ID)
    path, offset = cell.path, cell.offset
    named: list[str] = []
    try:
        async with asyncio.timeout(20 * PROBE_PAUSE):
            async with find_blocking() as report:
                await pause(PROBE_PAUSE)
    except Exception:  # naming is a courtesy: the measurement below gives the verdict
        return named
    for call in report.findings:
        if call.filename != path:
            continue
        where = f"line {call.lineno - offset} of your cell" if call.lineno > offset else "a setup cell"
        text = f"{call.function} ({where})" if call.kind != "slow-step" else f"the code at {where}"
        if text not in named:
            named.append(text)
    return named


async def _timed(pause: Any, seconds: float) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await pause(seconds)
    return result, time.perf_counter() - started


@exercise(__file__)
async def check_warm_up(module: ModuleType, lab: Lab) -> Verdict:
    pause = require_coroutine_function(module, "pause")
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    n = len(PAUSES)
    with _threads_enough(loop, n):
        named = await _blocking_calls(module, pause)
        with unawaited_coroutines() as unawaited:
            try:
                async with LoopMonitor() as monitor:
                    started = time.perf_counter()
                    async with asyncio.timeout(GIVE_UP):
                        outcomes = await asyncio.gather(*(_timed(pause, s) for s in PAUSES))
                    total = time.perf_counter() - started
            except TimeoutError:
                if time.perf_counter() - started < 0.9 * GIVE_UP:
                    raise  # the learner's own TimeoutError: the worker reports it with its line
                raise fail(Reason.TOO_SLOW, f"{n} calls of pause() had not all returned after {GIVE_UP:.0f} s.",
                           measured=f"the longest pause asked for was {LONGEST} s",
                           expected=f"all {n} done in about {LONGEST} s",
                           hint="Does pause() wait for `seconds`, and then return?") from None
            except RuntimeError as exc:
                if not any(text in str(exc) for text in ("running event loop", "loop is already running")):
                    raise
                raise fail(Reason.ASYNCIO_RUN, "pause() tried to start an event loop inside the one that is already running.",
                           measured=f"RuntimeError: {exc}", expected="pause() awaits, on the loop that called it",
                           hint="asyncio.run() and run_until_complete() are for code outside any loop. Inside an "
                                "async def, await: `await asyncio.sleep(seconds)`.") from None

    if monitor.blocked_share > STALL_SHARE:
        culprit = f" {named[0]} holds it" if named else ""
        raise fail(Reason.LOOP_BLOCKED, f"the event loop stalled while {n} pauses ran:{culprit}".rstrip(":") + ".",
                   measured=f"{n} pauses took {total:.2f} s, {total / LONGEST:.1f}× the longest one; {loop_health(monitor)}",
                   expected=f"about {LONGEST} s, the longest pause, with the heartbeat ticking",
                   hint=("time.sleep holds the whole loop; `await asyncio.sleep(seconds)` lets the others run."
                         if not named or named[0].startswith("time.sleep") else
                         "That line keeps the loop's thread busy and never awaits. To wait, "
                         "`await asyncio.sleep(seconds)`: the others run meanwhile."))
    results = [r for r, _ in outcomes]
    wrong = next((r for r in results if r != "done"), None)
    if any(r != "done" for r in results):
        raise fail(Reason.WRONG_RESULT, "pause() should return the string 'done'.", measured=f"it returned {wrong!r}",
                   expected="'done'", hint="End the function with `return \"done\"`.")
    early = [(s, t) for s, (_, t) in zip(PAUSES, outcomes, strict=True) if t < EARLY * s - EARLY_SLACK]
    if early:
        s, t = max(early, key=lambda e: e[0] - e[1])
        if unawaited:
            raise fail(Reason.TOO_FAST, "pause() returned at once: the sleep was created but never awaited.",
                       measured=f"pause({s}) returned after {t:.2f} s; Python warned: {unawaited[0]}",
                       expected=f"pause({s}) takes about {s} s", hint="Put `await` in front of `asyncio.sleep(seconds)`.")
        raise fail(Reason.TOO_FAST, "pause() returned before the pause was over.",
                   measured=f"pause({s}) returned after {t:.2f} s", expected=f"about {s} s",
                   hint="Wait for `seconds` (the argument), then return.")
    late = [(s, t) for s, (_, t) in zip(PAUSES, outcomes, strict=True) if t > LATE * s + SLACK]
    if late or total > TOTAL * LONGEST:
        s, t = max(late, key=lambda e: e[1] / e[0]) if late else (LONGEST, total)
        raise fail(Reason.TOO_SLOW, f"the pauses took much longer than they should ({n} ran at once).",
                   measured=f"pause({s}) took {t:.2f} s; all {n} took {total:.2f} s",
                   expected=f"each about its own `seconds`; all {n} in about {LONGEST} s",
                   hint="Wait for `seconds`, no more; are the calls waiting for each other?")
    return passed(f"{n} pauses ran at once and took {total:.2f} s, about the longest one; the loop kept ticking.",
                  measured=f"{total / LONGEST:.1f}× the longest pause; {loop_health(monitor)}")
