"""05-deadline-fetch's judge, from recorded calls: one test per verdict, and each threshold from both sides."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asynclab.errors import ServiceUnavailable
from asynclab.exercises.ex05_deadline_fetch.check import SLOW_CASES
from asynclab.exercises.ex05_deadline_fetch.judge import (
    EARLY,
    SLACK,
    FastCall,
    SlowCall,
    judge_client_error,
    judge_fast,
    judge_slow,
)
from asynclab.grading.measure import BoundedCall
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed

CASES = {case.name: case for case in SLOW_CASES}
HANG = CASES["hang"]  # deadline 0.5 s
CANCELLED = {"requests": 1, "in_flight": 0, "disconnects": 1, "completed": 0}
STILL_OPEN = {"requests": 1, "in_flight": 1, "disconnects": 0, "completed": 0}


def returned(value: Any, elapsed: float = 0.1) -> BoundedCall:
    return BoundedCall(elapsed, True, value=value)


def raised(error: BaseException, elapsed: float = 0.5) -> BoundedCall:
    return BoundedCall(elapsed, True, error=error)


def stopped(elapsed: float = 2.0, *, stuck: bool = False) -> BoundedCall:
    return BoundedCall(elapsed, False, stuck=stuck)


def reason_of(judge: Any, *args: Any) -> Reason:
    with pytest.raises(CheckFailed) as failure:
        judge(*args)
    return failure.value.reason


def unavailable(seconds: float) -> BoundedCall:
    return raised(ServiceUnavailable("no answer"), seconds)


# --- the calls that must come back ---------------------------------------------------------------

def test_a_fast_body_through_the_client_passes() -> None:
    assert judge_fast(FastCall("a fast server", "body", returned("body", 0.07), sent=1)) == 0.07


@pytest.mark.parametrize(("call", "sent", "reason"), [
    (stopped(), 0, Reason.DEADLINE_MISSED),
    (unavailable(0.3), 1, Reason.GAVE_UP_EARLY),
    (raised(ValueError("bad")), 1, Reason.WRONG_RESULT),
    (returned("body"), 0, Reason.CLIENT_NOT_USED),
    (returned(b"body"), 1, Reason.WRONG_RESULT),
])
def test_a_fast_call_that_does_not_return_the_body_fails(call: BoundedCall, sent: int, reason: Reason) -> None:
    assert reason_of(judge_fast, FastCall("a fast server", "body", call, sent)) == reason


# --- the calls that must give up --------------------------------------------------------------------

def test_giving_up_in_time_with_the_request_cancelled_passes() -> None:
    assert judge_slow(SlowCall(HANG, unavailable(0.51), CANCELLED)) == 0.51


def test_a_500_needs_no_disconnect() -> None:
    assert judge_slow(SlowCall(CASES["server-error"], unavailable(0.01), {"in_flight": 0, "disconnects": 0})) == 0.01


def test_no_deadline_when_the_server_still_holds_the_only_request() -> None:
    assert reason_of(judge_slow, SlowCall(HANG, stopped(), STILL_OPEN)) == Reason.NO_DEADLINE


@pytest.mark.parametrize(("stats", "stuck"), [
    ({"requests": 2, "in_flight": 1, "disconnects": 1}, False),  # gave up, then asked again: a retry
    (STILL_OPEN, True),  # cancelled by the check and still running: the cancellation was swallowed
])
def test_a_deadline_that_fired_and_code_that_kept_going_is_deadline_missed(stats: dict[str, int], stuck: bool) -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_slow(SlowCall(HANG, stopped(stuck=stuck), stats))
    assert failure.value.reason == Reason.DEADLINE_MISSED
    assert ("catches CancelledError" in failure.value.summary) == stuck


@pytest.mark.parametrize("name", ["trickle", "slow-headers"])
def test_still_running_on_a_slow_server_is_deadline_missed(name: str) -> None:
    assert reason_of(judge_slow, SlowCall(CASES[name], stopped(), STILL_OPEN)) == Reason.DEADLINE_MISSED


@pytest.mark.parametrize(("name", "reason"), [("server-error", Reason.SERVER_ERROR_RETURNED),
                                              ("trickle", Reason.WRONG_RESULT)])
def test_returning_instead_of_raising(name: str, reason: Reason) -> None:
    assert reason_of(judge_slow, SlowCall(CASES[name], returned("500 body"), CANCELLED)) == reason


@pytest.mark.parametrize(("error", "reason"), [
    (httpx.ReadTimeout("timed out"), Reason.HTTPX_ERROR_ESCAPED),
    (httpx.HTTPStatusError("500", request=httpx.Request("GET", "http://x"), response=httpx.Response(500)),
     Reason.HTTPX_ERROR_ESCAPED),
    (TimeoutError(), Reason.WRONG_EXCEPTION),
    (RuntimeError("my own"), Reason.WRONG_EXCEPTION),
])
def test_any_exception_but_service_unavailable_fails(error: BaseException, reason: Reason) -> None:
    assert reason_of(judge_slow, SlowCall(CASES["slow-headers"], raised(error, 1.0), CANCELLED)) == reason


def test_the_escaped_httpx_exception_shows_its_bases() -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_slow(SlowCall(CASES["slow-headers"], raised(httpx.ReadTimeout("timed out"), 0.3), CANCELLED))
    assert "TimeoutException → TransportError → RequestError → HTTPError" in failure.value.measured


@pytest.mark.parametrize(("elapsed", "reason"), [
    (HANG.seconds + SLACK - 0.01, None),  # just inside the deadline's slack
    (HANG.seconds + SLACK + 0.01, Reason.DEADLINE_MISSED),  # just outside
    (HANG.seconds * EARLY + 0.01, None),  # early, but not too early
    (HANG.seconds * EARLY - 0.01, Reason.GAVE_UP_EARLY),
])
def test_the_deadline_bounds_from_both_sides(elapsed: float, reason: Reason | None) -> None:
    m = SlowCall(HANG, unavailable(elapsed), CANCELLED)
    if reason is None:
        assert judge_slow(m) == elapsed
    else:
        assert reason_of(judge_slow, m) == reason


def test_giving_up_early_is_judged_on_hang_only() -> None:
    """The client's own 0.3 s read timeout ends slow-headers early, by design: translated, it passes."""
    assert judge_slow(SlowCall(CASES["slow-headers"], unavailable(0.3), CANCELLED)) == 0.3


@pytest.mark.parametrize("stats", [STILL_OPEN, {"requests": 1, "in_flight": 0, "disconnects": 0, "completed": 1}])
def test_a_request_the_server_still_holds_or_finished_is_left_running(stats: dict[str, int]) -> None:
    assert reason_of(judge_slow, SlowCall(HANG, unavailable(0.5), stats)) == Reason.REQUEST_LEFT_RUNNING


# --- the 404 -----------------------------------------------------------------------------------------------

def test_a_404_raised_as_the_callers_error_passes() -> None:
    error = httpx.HTTPStatusError("404", request=httpx.Request("GET", "http://x"), response=httpx.Response(404))
    assert judge_client_error(raised(error, 0.01)) == "httpx.HTTPStatusError"


def test_a_404_as_service_unavailable_names_its_cause() -> None:
    error = ServiceUnavailable("down")
    error.__cause__ = KeyError("cause")
    with pytest.raises(CheckFailed) as failure:
        judge_client_error(raised(error, 0.01))
    assert failure.value.reason == Reason.CLIENT_ERROR_AS_UNAVAILABLE
    assert "caused by KeyError" in failure.value.measured


@pytest.mark.parametrize(("call", "reason"), [(stopped(), Reason.DEADLINE_MISSED),
                                              (returned("not found"), Reason.CLIENT_ERROR_RETURNED)])
def test_a_404_that_is_not_raised_fails(call: BoundedCall, reason: Reason) -> None:
    assert reason_of(judge_client_error, call) == reason


@pytest.mark.parametrize(("elapsed", "decisive"), [(2 * (HANG.seconds + SLACK), True),
                                                   (2 * (HANG.seconds + SLACK) - 0.01, False)])
def test_only_a_call_still_running_at_twice_its_bound_is_not_measured_again(elapsed: float, decisive: bool) -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_slow(SlowCall(HANG, stopped(elapsed, stuck=True), {**STILL_OPEN, "requests": 2, "disconnects": 1}))
    assert failure.value.reason == Reason.DEADLINE_MISSED and failure.value.decisive is decisive
