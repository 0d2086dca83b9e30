"""The check of notebook 00 · Welcome: the warm-up that teaches how check cells work. It
measures; judge.py gives the verdict from the recorded measurement.

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
from ...grading.measure import loop_health, require_coroutine_function, unawaited_coroutines
from ...grading.registry import Verdict, exercise
from ...instruments.loop_monitor import LoopMonitor
from ...lab import Lab
from .judge import GIVE_UP, PAUSES, Measurement, judge, judge_gave_up, judge_nested_loop

EXERCISE_ID = "00-warm-up"
PROBE_PAUSE = 0.05  # the single call that find_blocking watches


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
                judge_gave_up()
            except RuntimeError as exc:
                if not any(text in str(exc) for text in ("running event loop", "loop is already running")):
                    raise
                judge_nested_loop(exc)

    return judge(Measurement(outcomes=list(outcomes), total=total, blocked_share=monitor.blocked_share,
                             health=loop_health(monitor), named=named, unawaited=list(unawaited)))
