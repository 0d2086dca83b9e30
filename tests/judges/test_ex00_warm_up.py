"""00-warm-up's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from asynclab.exercises.ex00_warm_up.judge import (
    EARLY,
    EARLY_SLACK,
    LATE,
    LONGEST,
    PAUSES,
    SLACK,
    TOTAL,
    Measurement,
    judge,
    judge_gave_up,
    judge_nested_loop,
)
from asynclab.grading.measure import STALL_SHARE
from asynclab.grading.reasons import Reason


def _good(**changes: Any) -> Measurement:
    m = Measurement(outcomes=[("done", s + 0.01) for s in PAUSES], total=LONGEST + 0.02, blocked_share=0.0,
                    health="loop blocked 0% of 0.32 s, longest stall 0.01 s")
    return replace(m, **changes)


def _with(i: int, value: Any = "done", seconds: float | None = None) -> list[tuple[Any, float]]:
    outcomes = [("done", s + 0.01) for s in PAUSES]
    outcomes[i] = (value, PAUSES[i] + 0.01 if seconds is None else seconds)
    return outcomes


def test_the_solutions_measurement_passes() -> None:
    assert judge(_good()).ok


@pytest.mark.parametrize(("share", "reason"), [(STALL_SHARE, None), (STALL_SHARE + 0.01, Reason.LOOP_BLOCKED)])
def test_stall_share_threshold(reason_of: Any, share: float, reason: Reason | None) -> None:
    assert reason_of(judge, _good(blocked_share=share)) is reason


def test_a_stall_names_its_line_and_its_fix(failure_of: Any) -> None:
    sleep = failure_of(judge, _good(blocked_share=0.9, named=["time.sleep (line 6 of your cell)"]))
    assert "time.sleep (line 6 of your cell) holds it" in sleep.summary and "time.sleep holds" in sleep.hint
    busy = failure_of(judge, _good(blocked_share=0.9, named=["the code at line 7 of your cell"]))
    assert "never awaits" in busy.hint
    assert failure_of(judge, _good(blocked_share=0.9)).summary.endswith("ran.")


def test_wrong_result(reason_of: Any) -> None:
    assert reason_of(judge, _good(outcomes=_with(3, value=None))) is Reason.WRONG_RESULT


def test_too_fast_threshold_and_the_unawaited_warning(reason_of: Any, failure_of: Any) -> None:
    edge = EARLY * PAUSES[0] - EARLY_SLACK
    assert reason_of(judge, _good(outcomes=_with(0, seconds=edge))) is None
    assert reason_of(judge, _good(outcomes=_with(0, seconds=edge - 0.001))) is Reason.TOO_FAST
    warned = failure_of(judge, _good(outcomes=_with(0, seconds=0.0), unawaited=["coroutine 'sleep' was never awaited"]))
    assert "never awaited" in warned.summary and "Put `await`" in warned.hint


def test_too_slow_thresholds(reason_of: Any) -> None:
    edge = LATE * PAUSES[0] + SLACK
    assert reason_of(judge, _good(outcomes=_with(0, seconds=edge))) is None
    assert reason_of(judge, _good(outcomes=_with(0, seconds=edge + 0.001))) is Reason.TOO_SLOW
    assert reason_of(judge, _good(total=TOTAL * LONGEST)) is None
    assert reason_of(judge, _good(total=TOTAL * LONGEST + 0.001)) is Reason.TOO_SLOW


def test_giving_up_and_a_nested_loop(reason_of: Any, failure_of: Any) -> None:
    assert reason_of(judge_gave_up) is Reason.TOO_SLOW
    assert failure_of(judge_gave_up).decisive  # nothing back in 16x the longest pause: not measured again
    assert reason_of(judge_nested_loop, RuntimeError("asyncio.run() cannot be called from a running event loop")) \
        is Reason.ASYNCIO_RUN
