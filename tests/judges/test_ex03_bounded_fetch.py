"""03-bounded-fetch's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from asynclab.exercises.ex03_bounded_fetch.judge import (
    ERROR_AT,
    ERROR_STATUS,
    FETCH_LIMIT,
    FETCH_N,
    FETCH_POOL,
    Measurement,
    bounded_fetch_plan,
    judge,
    judge_error_call,
    verdict,
)
from asynclab.grading.reasons import Reason

SLEEPS_MS = [10 + (i * 37) % 141 for i in range(FETCH_N)]  # 10..150 ms, jittered like the check's
PLAN = bounded_fetch_plan(SLEEPS_MS, FETCH_LIMIT)
BODIES = [f'{{"id": "r{i}"}}' for i in range(FETCH_N)]


def _good(**changes: Any) -> Measurement:
    m = Measurement(plan=PLAN, expected=BODIES, results=list(BODIES), timeout=3 * PLAN["bound"] + 3,
                    seconds=1.1 * PLAN["ideal"], peak=FETCH_LIMIT, connections=FETCH_LIMIT, made=0)
    return replace(m, **changes)


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/error")
    return httpx.HTTPStatusError(str(status), request=request, response=httpx.Response(status, request=request))


def test_the_plan_puts_the_bound_between_a_semaphore_and_batches() -> None:
    assert PLAN["semaphore"] < PLAN["bound"] < PLAN["chunked"]


def test_the_solutions_measurement_passes() -> None:
    timing = judge(_good())
    assert verdict(timing, FETCH_LIMIT, FETCH_LIMIT).ok
    assert judge_error_call(ExceptionGroup("g", [_status_error(ERROR_STATUS)])) is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"made": 1}, Reason.CLIENT_PER_REQUEST),
    ({"connections": FETCH_POOL}, None),
    ({"connections": FETCH_POOL + 1}, Reason.CLIENT_PER_REQUEST),
    ({"peak": FETCH_LIMIT + 1}, Reason.OVER_LIMIT),
    ({"results": None}, Reason.TOO_SLOW),
    ({"results": BODIES[:-1]}, Reason.WRONG_RESULT),
    ({"results": "x"}, Reason.WRONG_RESULT),
    ({"results": tuple(BODIES)}, None),
    ({"results": BODIES[::-1]}, Reason.WRONG_ORDER),
    ({"results": [*BODIES[:-1], "Service Unavailable"]}, Reason.WRONG_RESULT),
    ({"seconds": PLAN["bound"]}, None),
    ({"seconds": PLAN["bound"] + 0.01}, Reason.TOO_SLOW),
])
def test_verdicts_and_thresholds(reason_of: Any, changes: dict[str, Any], reason: Reason | None) -> None:
    assert reason_of(judge, _good(**changes)) is reason


def test_too_slow_shows_what_batches_would_take(failure_of: Any) -> None:
    assert f"batches of {FETCH_LIMIT} would take about {PLAN['chunked']:.2f} s" in failure_of(
        judge, _good(seconds=PLAN["bound"] + 1)).expected


@pytest.mark.parametrize("outcome", [["a", "b", "Service Unavailable", "d"], _status_error(404), RuntimeError("x"),
                                     TimeoutError(), None])
def test_the_error_call_must_raise_the_503(reason_of: Any, outcome: Any) -> None:
    assert reason_of(judge_error_call, outcome) is Reason.STATUS_UNCHECKED


def test_the_error_call_shows_the_body_returned(failure_of: Any) -> None:
    failure = failure_of(judge_error_call, ["a", "b", "Service Unavailable", "d"])
    assert f"[{ERROR_AT}] is the error's body: 'Service Unavailable'" in failure.measured
