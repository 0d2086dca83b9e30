"""The verdicts of 01-offload-cpu, from a recorded measurement (check.py measures).

Pure functions: tests/judges/test_ex01_offload_cpu.py gives every verdict and threshold from a
hand-made `Measurement`, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...grading.measure import EXPECTED_LOOP_FREE, STALL_SHARE, ratio_text
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

CPU_SLOWDOWN = 1.5  # the answer may take this × hashing inline


@dataclass
class Measurement:
    """Everything the check recorded, in the order it judges."""

    passwords: int  # how many were hashed in the timed run
    blocked_share: float
    summary: str  # LoopMonitor.summary()
    expected: list[str]  # hash_passwords_inline(passwords)
    got: Any  # what hash_passwords returned
    warm: Any  # what the warm-up call on the first two passwords returned
    seconds: float  # the answer's time
    inline: float  # hashing inline, the larger of a run before and one after
    named: list[str] = field(default_factory=list)  # lines seen holding the loop


def judge(m: Measurement) -> Verdict:
    if m.blocked_share > STALL_SHARE:
        raise fail(Reason.LOOP_BLOCKED, f"the event loop stalled while {m.passwords} passwords were hashed.",
                   measured=m.summary + (f"; the loop was busy in {', '.join(m.named[:3])}" if m.named else ""),
                   expected=EXPECTED_LOOP_FREE,
                   hint="The hashing still runs on the loop's own thread. async def and asyncio.sleep(0) do not "
                        "move it; a thread does (hashlib releases the GIL).")
    got, expected = m.got, m.expected
    if not isinstance(got, list) or got != expected or m.warm != expected[:2]:
        if isinstance(got, list) and sorted(got) == sorted(expected):
            order = [expected.index(h) for h in got]
            measured = f"the right hashes, in this order of the input: {order}"
        else:
            measured = f"got {type(got).__name__}: {str(got)[:100]}"
        raise fail(Reason.WRONG_RESULT, "hash_passwords returned the wrong hashes (or in the wrong order).",
                   measured=measured,
                   expected="a list with hash_password(p) for each password, in the same order",
                   hint="asyncio.gather returns results in the order of its arguments; as_completed does not.")
    if m.seconds > CPU_SLOWDOWN * m.inline:
        raise fail(Reason.TOO_SLOW, "hash_passwords is much slower than hashing inline.",
                   measured=ratio_text(m.seconds, m.inline).replace("the ideal", "inline"),
                   expected=f"at most {CPU_SLOWDOWN:g}× the inline time",
                   hint="Starting a process pool for every call costs more than the work. Threads are enough for "
                        "hashlib; create any pool once, outside the function.")
    return passed(f"{m.passwords} hashes, right and in order, while the loop kept ticking.",
                  measured=f"{m.seconds:.2f} s ({m.seconds / m.inline:.2f}× inline); "
                           f"loop blocked {m.blocked_share:.0%} of the time")
