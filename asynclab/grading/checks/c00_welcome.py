"""Checks for notebook 00 · Welcome: the warm-up that teaches how check cells work."""

from __future__ import annotations

import asyncio
from types import ModuleType

from ...lab import Lab
from ..measure import Stopwatch, assert_loop_free, ratio_text, require_coroutine_function, watched
from ..registry import exercise, fail, passed

PAUSE = 0.2
CALLS = 20


@exercise(
    "00-warm-up",
    defines=["pause"],
    starter_reason="loop-blocked",
    deadline=20,
    hints=[
        "Twenty pauses of 0.2 s ran one after another. What does `time.sleep` do to everything else on the loop?",
        "A coroutine must *await* to let other coroutines run. asyncio has its own sleep that awaits.",
        "Replace `time.sleep(seconds)` with `await asyncio.sleep(seconds)` (and import asyncio).",
    ],
)
async def check_warm_up(module: ModuleType, lab: Lab) -> object:
    pause = require_coroutine_function(module, "pause")
    async with watched() as monitor:
        with Stopwatch() as sw:
            results = await asyncio.gather(*(pause(PAUSE) for _ in range(CALLS)))
    assert_loop_free(monitor, what=f"{CALLS} pauses", hint="time.sleep blocks the whole loop; asyncio.sleep lets others run.")
    if any(r != "done" for r in results):
        raise fail("wrong-result", "pause() should return 'done'.", measured=f"returned {results[0]!r}", expected="'done'",
                   hint="End the function with `return \"done\"`.")
    if sw.seconds < PAUSE * 0.9:
        raise fail("too-fast", "pause() returned before the pause was over.", measured=ratio_text(sw.seconds, PAUSE),
                   expected=f"about {PAUSE} s", hint="Wait for `seconds`, then return.")
    if sw.seconds > PAUSE * 2.5:
        raise fail("too-slow", f"{CALLS} concurrent pauses took far longer than one.", measured=ratio_text(sw.seconds, PAUSE),
                   expected=f"at most 2.5× {PAUSE} s", hint="Are the pauses running one after another?")
    return passed(f"{CALLS} pauses of {PAUSE} s finished together, and the loop kept ticking.",
                  measured=f"{ratio_text(sw.seconds, PAUSE)}; {monitor.missed_share:.0%} of heartbeats missed")
