"""02-fetch-all's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from asynclab.exercises.ex02_fetch_all.judge import (
    MAX_RATIO,
    N_FAST,
    N_SLOW,
    SLACK,
    Ended,
    FailureRun,
    judge_bodies,
    judge_failure,
    verdict,
)
from asynclab.grading.reasons import Reason

MS = [150 + 10 * i for i in range(N_FAST)]  # r9 is the slowest: 240 ms
BODIES = [json.dumps({"id": f"r{i}", "slept_ms": ms}) for i, ms in enumerate(MS)]
SLOWEST = max(MS) / 1000


def _status_error() -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/error")
    return httpx.HTTPStatusError("500", request=request, response=httpx.Response(500, request=request))


def _in_time(ended: Ended, **stats: int) -> FailureRun:
    counters = {"in_flight": 0, "completed": 1, "disconnects": N_SLOW, **stats}
    return FailureRun(took=0.12, in_time=True, ended=ended, stats=counters, settled=0.05)


def test_the_solutions_measurement_passes() -> None:
    slowest = judge_bodies(list(BODIES), 0.3)
    assert slowest == SLOWEST
    assert verdict(0.3, slowest, judge_failure(_in_time(Ended(error=ExceptionGroup("g", [_status_error()]))))).ok


def test_speed_threshold(reason_of: Any) -> None:
    limit = MAX_RATIO * SLOWEST + SLACK
    assert reason_of(judge_bodies, list(BODIES), limit) is None
    assert reason_of(judge_bodies, list(BODIES), limit + 0.01) is Reason.TOO_SLOW


@pytest.mark.parametrize("result", [BODIES[:9], "r0", {"r0": 1}, [*BODIES[:9], {"id": "r9"}],
                                    [*BODIES[:9], BODIES[0]]])
def test_wrong_result(reason_of: Any, result: Any) -> None:
    assert reason_of(judge_bodies, result, 0.3) is Reason.WRONG_RESULT


def test_wrong_order(reason_of: Any, failure_of: Any) -> None:
    assert reason_of(judge_bodies, BODIES[::-1], 0.3) is Reason.WRONG_ORDER
    assert "completion order" not in failure_of(judge_bodies, BODIES[::-1], 0.3).summary


def test_completion_order_is_named(failure_of: Any) -> None:
    slower_first = [json.dumps({"id": f"r{i}", "slept_ms": ms}) for i, ms in enumerate(MS[::-1])]
    fastest_first = slower_first[::-1]  # what as_completed gives
    assert "(fastest first: completion order)" in failure_of(judge_bodies, fastest_first, 0.3).summary


@pytest.mark.parametrize(("run", "reason"), [
    (FailureRun(3.0, False, Ended(value=["x"]), ended_after=2.6), Reason.ERROR_SWALLOWED),
    (FailureRun(1.1, False, Ended(running=True), in_flight_then=5), Reason.ERROR_TOO_LATE),
    (FailureRun(1.1, False, Ended(error=_status_error()), in_flight_then=5), Reason.ERROR_TOO_LATE),
    (_in_time(Ended(cancelled=True)), Reason.WRONG_EXCEPTION),
    (_in_time(Ended(value=["x"] * 6)), Reason.ERROR_SWALLOWED),
    (_in_time(Ended(error=ExceptionGroup("g", [asyncio.InvalidStateError()]))), Reason.RESULT_READ_TOO_EARLY),
    (_in_time(Ended(error=RuntimeError("boom"))), Reason.WRONG_EXCEPTION),
    (_in_time(Ended(error=_status_error()), in_flight=1), Reason.SIBLINGS_NOT_CANCELLED),
    (_in_time(Ended(error=_status_error()), completed=2, disconnects=N_SLOW - 1), Reason.SIBLINGS_NOT_CANCELLED),
    (_in_time(Ended(error=_status_error()), disconnects=N_SLOW - 1), Reason.SIBLINGS_NOT_CANCELLED),
    (_in_time(Ended(error=_status_error())), None),
])
def test_failure_round(reason_of: Any, run: FailureRun, reason: Reason | None) -> None:
    assert reason_of(judge_failure, run) is reason
