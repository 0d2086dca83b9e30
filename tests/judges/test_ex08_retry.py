"""08-retry's judge, from recorded scenarios (see tests/judges/conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asynclab.errors import ServiceUnavailable
from asynclab.exercises.ex08_retry.judge import (
    BUDGET_CALLERS,
    CALLERS,
    DEADLINE,
    IMMEDIATE,
    IMMEDIATE_SHARE,
    RECOVER_RETRIES,
    RETRY_AFTER_SLACK,
    SLACK,
    SPREAD_FLOOR,
    SPREAD_SHARE,
    Call,
    Scenario,
    judge_budget,
    judge_client_error,
    judge_deadline,
    judge_recovers,
    judge_spread,
    recovered,
    verdict,
)
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed
from asynclab.lessons.overload import RetryBudget

BODY = '{"ok": true, "recovered": true}'
OK = Call("ok", BODY, 1.6)


def _not_found() -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/users/0")
    return httpx.HTTPStatusError("404", request=request, response=httpx.Response(404, request=request))


def _recovers(*waits: float, retry_after: float | None = 1.0, call: Call = OK) -> Scenario:
    return Scenario([call], len(waits) + 1, [(i + 1, w, retry_after) for i, w in enumerate(waits)])


def _spread(*first: float, calls: list[Call] | None = None) -> Scenario:
    return Scenario(calls or [OK] * CALLERS, 2 * len(first), [(1, w, None) for w in first])


def test_the_solutions_scenarios_pass() -> None:
    found = [judge_recovers(_recovers(1.05)), judge_spread(_spread(*(0.01 + 0.025 * k for k in range(CALLERS)))),
             judge_client_error(Scenario([Call("raised", _not_found(), 0.01)], 1)),
             judge_deadline(Scenario([Call("raised", ServiceUnavailable("down"), DEADLINE)], 6)),
             judge_budget(Scenario([Call("raised", ServiceUnavailable("spent"), 0.2)] * BUDGET_CALLERS, 13),
                          RetryBudget(ratio=0.1, minimum=2))]
    assert verdict(found).ok
    assert found[0] == "recovered after 2 requests in 1.60 s"


@pytest.mark.parametrize(("scenario", "reason"), [
    (_recovers(0.001, 0.001, 0.001, retry_after=None), Reason.RETRY_IMMEDIATE),
    (_recovers(IMMEDIATE + 0.001, IMMEDIATE + 0.001, IMMEDIATE + 0.001, retry_after=None), None),
    (_recovers(IMMEDIATE - 0.001, IMMEDIATE - 0.001, IMMEDIATE - 0.001, retry_after=None), Reason.RETRY_IMMEDIATE),
    (_recovers(0.001, 0.001, retry_after=None), None),  # two waits are too few to call it "at once"
    # full jitter that drew two short waits (a CI run): not "at once", and it ignored Retry-After
    (_recovers(0.013, 0.012, 0.38), Reason.RETRY_AFTER_IGNORED),
    # never sleeps, with scheduling hiccups: IMMEDIATE_SHARE of the waits short is enough, less is not
    (_recovers(*[0.001] * 8, 0.05, 0.05, retry_after=None), Reason.RETRY_IMMEDIATE),
    (_recovers(*[0.001] * 7, 0.05, 0.05, 0.05, retry_after=None), None),
    (_recovers(1.0 - RETRY_AFTER_SLACK + 0.001), None),
    (_recovers(1.0 - RETRY_AFTER_SLACK - 0.001), Reason.RETRY_AFTER_IGNORED),
    (_recovers(0.5, retry_after=None), None),  # no Retry-After asked for: any wait will do
    (_recovers(1.1, call=Call("hung", None, 8.0)), Reason.DEADLINE_MISSED),
    (_recovers(1.1, call=Call("raised", ServiceUnavailable("gave up"), 1.2)), Reason.GAVE_UP_EARLY),
    (_recovers(1.1, call=Call("ok", '{"ok": false}', 1.2)), Reason.WRONG_RESULT),
    (_recovers(1.1, call=Call("ok", "not json", 1.2)), Reason.WRONG_RESULT),
    (_recovers(1.1, call=Call("ok", None, 1.2)), Reason.WRONG_RESULT),
])
def test_recovers(reason_of: Any, scenario: Scenario, reason: Reason | None) -> None:
    assert reason_of(judge_recovers, scenario) is reason


def test_retry_immediate_shows_the_short_waits(failure_of: Any) -> None:
    measured = failure_of(judge_recovers, _recovers(0.001, 0.001, 0.002, 0.001, 0.3)).measured
    assert measured.endswith(f"4 of 5 waits after a 503 under {IMMEDIATE * 1000:.0f} ms (median 1 ms)")


def test_scenario_1_gives_a_never_sleeping_answer_enough_retries_to_show_it() -> None:
    assert RECOVER_RETRIES - IMMEDIATE_SHARE * RECOVER_RETRIES >= 2  # it may hiccup twice and still be "at once"


def test_a_wait_shorter_than_retry_after_shows_both(failure_of: Any) -> None:
    failure = failure_of(judge_recovers, _recovers(1.2, 0.3))
    assert failure.measured == "a 503 said Retry-After: 1; the next request came 0.30 s later"


# Waits around a median of 0.2 s: the threshold is SPREAD_SHARE × 0.2 s = 60 ms (above the floor).
@pytest.mark.parametrize(("first", "reason"), [
    ([0.2 - 0.0305, 0.2, 0.2 + 0.0305], None),
    ([0.2 - 0.0295, 0.2, 0.2 + 0.0295], Reason.RETRY_NO_JITTER),
    ([0.1] * CALLERS, Reason.RETRY_NO_JITTER),  # one fixed sleep
    # tiny waits: the floor SPREAD_FLOOR rules, not the share
    ([0.001, 0.002, 0.001 + SPREAD_FLOOR + 0.001], None),
    ([0.001, 0.002, 0.001 + SPREAD_FLOOR - 0.001], Reason.RETRY_NO_JITTER),
])
def test_spread_thresholds(reason_of: Any, first: list[float], reason: Reason | None) -> None:
    assert SPREAD_SHARE * 0.2 > SPREAD_FLOOR
    assert reason_of(judge_spread, _spread(*first)) is reason


def test_spread_reads_only_first_retries(reason_of: Any) -> None:
    later = [(2, 0.1 + k * 0.5, None) for k in range(CALLERS)]  # spread later retries do not count
    scenario = Scenario([OK] * CALLERS, 3 * CALLERS, [(1, 0.1, None)] * CALLERS + later)
    assert reason_of(judge_spread, scenario) is Reason.RETRY_NO_JITTER


@pytest.mark.parametrize("bad", [Call("raised", ServiceUnavailable("budget"), 0.3), Call("hung", None, 8.0),
                                 Call("ok", "Service Unavailable", 0.1)])
def test_every_caller_must_recover(failure_of: Any, bad: Call) -> None:
    failure = failure_of(judge_spread, _spread(0.1, 0.3, calls=[*[OK] * (CALLERS - 1), bad]))
    assert failure.reason is Reason.GAVE_UP_EARLY
    assert failure.summary.startswith(f"1 of {CALLERS} callers")


@pytest.mark.parametrize(("scenario", "reason"), [
    (Scenario([Call("raised", _not_found(), 0.01)], 2), Reason.RETRIED_CLIENT_ERROR),
    (Scenario([Call("ok", '{"detail": "Not Found"}', 0.01)], 1), Reason.CLIENT_ERROR_RETURNED),
    (Scenario([Call("raised", ServiceUnavailable("404"), 0.01)], 1), Reason.CLIENT_ERROR_AS_UNAVAILABLE),
    (Scenario([Call("raised", _not_found(), 0.01)], 1), None),
])
def test_client_error(reason_of: Any, scenario: Scenario, reason: Reason | None) -> None:
    assert reason_of(judge_client_error, scenario) is reason


@pytest.mark.parametrize(("call", "reason"), [
    (Call("raised", ServiceUnavailable("deadline"), DEADLINE + SLACK), None),
    (Call("raised", ServiceUnavailable("deadline"), DEADLINE + SLACK + 0.01), Reason.DEADLINE_MISSED),
    (Call("hung", None, DEADLINE + 3.0), Reason.DEADLINE_MISSED),
    (Call("ok", "Service Unavailable", 0.9), Reason.SERVER_ERROR_RETURNED),
    (Call("raised", TimeoutError(), DEADLINE), Reason.WRONG_EXCEPTION),
    (Call("raised", RuntimeError("gave up"), 0.5), Reason.WRONG_EXCEPTION),
])
def test_deadline(reason_of: Any, call: Call, reason: Reason | None) -> None:
    assert reason_of(judge_deadline, Scenario([call], 5)) is reason


def test_budget_threshold(reason_of: Any) -> None:
    budget = RetryBudget(ratio=0.1, minimum=2)
    allowed = BUDGET_CALLERS + 2 + 0.1 * BUDGET_CALLERS  # 13: the calls, 10% of them and the minimum
    calls = [Call("raised", ServiceUnavailable("spent"), 0.2)] * BUDGET_CALLERS
    assert reason_of(judge_budget, Scenario(calls, int(allowed)), budget) is None
    assert reason_of(judge_budget, Scenario(calls, int(allowed) + 1), budget) is Reason.OVER_BUDGET


def test_recovered_reads_the_partners_body() -> None:
    assert recovered(BODY) and not recovered(BODY.encode()) and not recovered("")


def test_calls_that_bypass_the_given_client_get_a_verdict_not_a_crash(reason_of: Any) -> None:
    assert reason_of(judge_recovers, Scenario([OK], 0)) is Reason.CLIENT_PER_REQUEST
    assert reason_of(judge_spread, Scenario([OK] * CALLERS, 0)) is Reason.CLIENT_PER_REQUEST


@pytest.mark.parametrize(("call", "decisive"), [
    (Call("hung", None, DEADLINE + 3.0), True),  # the check's cut-off: 3 s past a 1 s deadline
    (Call("raised", ServiceUnavailable("late"), DEADLINE + 3.0), False),  # it did stop: measured again
])
def test_only_a_call_still_running_far_past_its_deadline_is_not_measured_again(call: Call, decisive: bool) -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_deadline(Scenario([call], 5))
    assert failure.value.reason == Reason.DEADLINE_MISSED and failure.value.decisive is decisive
