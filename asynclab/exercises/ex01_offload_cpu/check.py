"""The check of 01-offload-cpu (notebook 01 · The event loop is not a thread pool): it measures.

`hash_passwords(passwords)` must hash 16 passwords with `hash_password` (hashlib PBKDF2, which
releases the GIL) without stalling the loop, return them in order, and take at most 1.5× the
inline time, which the check measures itself in the same run (before and after; the larger).
judge.py gives the verdict. Like every check, it is run a second time, whole, by the worker
when it failed only for stalling or being slow (measure.remeasure).
"""

from __future__ import annotations

from types import ModuleType

from ...grading.loopwatch import LoopSampler, Source
from ...grading.measure import Stopwatch, name_blocking_lines, require_coroutine_function
from ...grading.registry import Verdict, exercise
from ...instruments.loop_monitor import LoopMonitor
from ...lab import Lab
from .judge import Measurement, judge

PASSWORDS = [f"correct-horse-{i}" for i in range(16)]


@exercise(__file__)
async def check_offload_cpu(module: ModuleType, lab: Lab) -> Verdict:
    from ...lessons.n01_event_loop import hash_passwords_inline

    hash_passwords = require_coroutine_function(module, "hash_passwords")
    source = Source.of_module(module, "01-offload-cpu")

    # Warm-up: starts any pool the answer keeps, and catches crashes on a small input.
    warm = await hash_passwords(PASSWORDS[:2])
    # One measurement: a stall or a slow run is measured again by the worker (remeasure).
    with Stopwatch() as inline_before:
        expected = hash_passwords_inline(PASSWORDS)
    with LoopSampler(source.path) as sampler:
        async with LoopMonitor() as monitor:
            with Stopwatch() as answer:
                got = await hash_passwords(list(PASSWORDS))
    with Stopwatch() as inline_after:
        hash_passwords_inline(PASSWORDS)
    return judge(Measurement(passwords=len(PASSWORDS), blocked_share=monitor.blocked_share, summary=monitor.summary(),
                             expected=expected, got=got, warm=warm, seconds=answer.seconds,
                             inline=max(inline_before.seconds, inline_after.seconds),
                             named=name_blocking_lines(source, None, sampler)))
