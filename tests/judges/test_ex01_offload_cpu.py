"""01-offload-cpu's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from asynclab.exercises.ex01_offload_cpu.judge import CPU_SLOWDOWN, Measurement, judge
from asynclab.grading.measure import STALL_SHARE
from asynclab.grading.reasons import Reason

HASHES = [f"h{i}" for i in range(16)]


def _good(**changes: Any) -> Measurement:
    m = Measurement(passwords=16, blocked_share=0.02, summary="s", expected=HASHES, got=list(HASHES),
                    warm=HASHES[:2], seconds=0.3, inline=0.5)
    return replace(m, **changes)


def test_the_solutions_measurement_passes() -> None:
    assert judge(_good()).ok


@pytest.mark.parametrize(("share", "reason"), [(STALL_SHARE, None), (STALL_SHARE + 0.01, Reason.LOOP_BLOCKED)])
def test_stall_share_threshold(reason_of: Any, share: float, reason: Reason | None) -> None:
    assert reason_of(judge, _good(blocked_share=share)) is reason


def test_a_stall_names_the_busy_line(failure_of: Any) -> None:
    failure = failure_of(judge, _good(blocked_share=0.9, named=["`hash_password(p)` (line 4)"]))
    assert "hash_password(p)` (line 4)" in failure.measured


@pytest.mark.parametrize("changes", [{"got": HASHES[::-1]}, {"got": tuple(HASHES)}, {"got": HASHES[:15]},
                                     {"warm": HASHES[1:3]}])
def test_wrong_result(reason_of: Any, changes: dict[str, Any]) -> None:
    assert reason_of(judge, _good(**changes)) is Reason.WRONG_RESULT


def test_the_wrong_order_is_shown(failure_of: Any) -> None:
    assert "in this order of the input: [15, 14" in failure_of(judge, _good(got=HASHES[::-1])).measured


def test_too_slow_at_the_limit(reason_of: Any) -> None:
    assert reason_of(judge, _good(seconds=CPU_SLOWDOWN * 0.5)) is None
    assert reason_of(judge, _good(seconds=CPU_SLOWDOWN * 0.5 + 0.01)) is Reason.TOO_SLOW
