"""The verdicts of 00-warm-up, from a recorded measurement (check.py measures).

Pure functions: tests/judges/test_ex00_warm_up.py gives every verdict and threshold from
hand-made measurements, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from ...grading.measure import STALL_SHARE
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

PAUSES = (0.1, 0.15, 0.2, 0.25, 0.3) * 2  # ten calls at once, each with its own length
LONGEST = max(PAUSES)
EARLY = 0.9  # a call may return this share of its `seconds` early, less EARLY_SLACK, no more:
EARLY_SLACK = 0.02  # the loop may run a timer one clock tick early (15.6 ms on Windows)
LATE = 2.0  # ... and take at most this many times its `seconds`, plus SLACK
SLACK = 0.1  # seconds, for a busy 2-core machine
TOTAL = 2.5  # all ten calls together: at most this many times the longest pause
GIVE_UP = 5.0  # seconds without an answer from the ten calls: stop waiting


@dataclass
class Measurement:
    """The ten calls of pause(), at once, under the loop monitor."""

    outcomes: list[tuple[Any, float]]  # (what pause(s) returned, seconds it took), in PAUSES order
    total: float  # seconds for all ten
    blocked_share: float
    health: str  # measure.loop_health(monitor)
    named: list[str] = field(default_factory=list)  # what blocked, by line: ["time.sleep (line 6 of your cell)"]
    unawaited: list[str] = field(default_factory=list)  # "coroutine ... was never awaited" warnings


def judge_gave_up() -> NoReturn:
    n = len(PAUSES)
    raise fail(Reason.TOO_SLOW, f"{n} calls of pause() had not all returned after {GIVE_UP:.0f} s.",
               measured=f"the longest pause asked for was {LONGEST} s",
               expected=f"all {n} done in about {LONGEST} s",
               hint="Does pause() wait for `seconds`, and then return?", decisive=True) from None


def judge_nested_loop(exc: RuntimeError) -> NoReturn:
    """pause() called asyncio.run() or run_until_complete() inside the running loop."""
    raise fail(Reason.ASYNCIO_RUN, "pause() tried to start an event loop inside the one that is already running.",
               measured=f"RuntimeError: {exc}", expected="pause() awaits, on the loop that called it",
               hint="asyncio.run() and run_until_complete() are for code outside any loop. Inside an "
                    "async def, await: `await asyncio.sleep(seconds)`.") from None


def judge(m: Measurement) -> Verdict:
    n, total, named = len(PAUSES), m.total, m.named
    if m.blocked_share > STALL_SHARE:
        culprit = f" {named[0]} holds it" if named else ""
        raise fail(Reason.LOOP_BLOCKED, f"the event loop stalled while {n} pauses ran:{culprit}".rstrip(":") + ".",
                   measured=f"{n} pauses took {total:.2f} s, {total / LONGEST:.1f}× the longest one; {m.health}",
                   expected=f"about {LONGEST} s, the longest pause, with the heartbeat ticking",
                   hint=("time.sleep holds the whole loop; `await asyncio.sleep(seconds)` lets the others run."
                         if not named or named[0].startswith("time.sleep") else
                         "That line keeps the loop's thread busy and never awaits. To wait, "
                         "`await asyncio.sleep(seconds)`: the others run meanwhile."))
    results = [r for r, _ in m.outcomes]
    wrong = next((r for r in results if r != "done"), None)
    if any(r != "done" for r in results):
        raise fail(Reason.WRONG_RESULT, "pause() should return the string 'done'.", measured=f"it returned {wrong!r}",
                   expected="'done'", hint="End the function with `return \"done\"`.")
    early = [(s, t) for s, (_, t) in zip(PAUSES, m.outcomes, strict=True) if t < EARLY * s - EARLY_SLACK]
    if early:
        s, t = max(early, key=lambda e: e[0] - e[1])
        if m.unawaited:
            raise fail(Reason.TOO_FAST, "pause() returned at once: the sleep was created but never awaited.",
                       measured=f"pause({s}) returned after {t:.2f} s; Python warned: {m.unawaited[0]}",
                       expected=f"pause({s}) takes about {s} s", hint="Put `await` in front of `asyncio.sleep(seconds)`.")
        raise fail(Reason.TOO_FAST, "pause() returned before the pause was over.",
                   measured=f"pause({s}) returned after {t:.2f} s", expected=f"about {s} s",
                   hint="Wait for `seconds` (the argument), then return.")
    late = [(s, t) for s, (_, t) in zip(PAUSES, m.outcomes, strict=True) if t > LATE * s + SLACK]
    if late or total > TOTAL * LONGEST:
        s, t = max(late, key=lambda e: e[1] / e[0]) if late else (LONGEST, total)
        raise fail(Reason.TOO_SLOW, f"the pauses took much longer than they should ({n} ran at once).",
                   measured=f"pause({s}) took {t:.2f} s; all {n} took {total:.2f} s",
                   expected=f"each about its own `seconds`; all {n} in about {LONGEST} s",
                   hint="Wait for `seconds`, no more; are the calls waiting for each other?")
    return passed(f"{n} pauses ran at once and took {total:.2f} s, about the longest one; the loop kept ticking.",
                  measured=f"{total / LONGEST:.1f}× the longest pause; {m.health}")
