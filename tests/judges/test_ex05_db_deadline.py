"""05-db-deadline's judge, from recorded calls and pg_stat_activity rows: one test per verdict, each threshold from both sides."""

from __future__ import annotations

from typing import Any

import pytest

from asynclab.errors import ServiceUnavailable
from asynclab.exercises.ex05_db_deadline.judge import (
    EARLY,
    SLACK,
    SLOW_DEADLINE,
    FastQuery,
    SlowQuery,
    judge_fast,
    judge_gave_up,
    judge_query_ended,
    judge_sql_error,
    rows_of,
)
from asynclab.grading.measure import BoundedCall
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed

ROWS = [(1, "ada"), (2, "bo")]


class QueryCanceledError(Exception):
    """Stands for asyncpg's: the judge tells driver errors apart by their module."""


QueryCanceledError.__module__ = "asyncpg.exceptions"


def returned(value: Any, elapsed: float = 0.05) -> BoundedCall:
    return BoundedCall(elapsed, True, value=value)


def raised(error: BaseException, elapsed: float = SLOW_DEADLINE) -> BoundedCall:
    return BoundedCall(elapsed, True, error=error)


def reason_of(judge: Any, *args: Any) -> Reason:
    with pytest.raises(CheckFailed) as failure:
        judge(*args)
    return failure.value.reason


@pytest.mark.parametrize("value", [ROWS, [list(r) for r in ROWS], [{"id": i, "name": n} for i, n in ROWS]])
def test_rows_pass_whatever_shape_the_driver_gives(value: Any) -> None:
    assert judge_fast(FastQuery("3 users", 2.0, ROWS, returned(value, 0.04))) == 0.04


def test_rows_of_refuses_what_is_not_a_list_of_rows() -> None:
    assert rows_of((1, 2)) is None
    assert rows_of([1, 2]) is None


@pytest.mark.parametrize(("call", "reason"), [
    (BoundedCall(3.5, False), Reason.DEADLINE_MISSED),
    (raised(ServiceUnavailable("down"), 0.01), Reason.GAVE_UP_EARLY),
    (raised(QueryCanceledError("statement timeout"), 0.01), Reason.GAVE_UP_EARLY),
    (raised(TimeoutError(), 0.01), Reason.GAVE_UP_EARLY),
    (raised(ValueError("bug"), 0.01), Reason.WRONG_RESULT),
    (returned(ROWS[:1]), Reason.WRONG_RESULT),
    (returned("1 ada"), Reason.WRONG_RESULT),
])
def test_a_fast_query_that_does_not_return_its_rows_fails(call: BoundedCall, reason: Reason) -> None:
    assert reason_of(judge_fast, FastQuery("3 users", 2.0, ROWS, call)) == reason


# --- pg_sleep(10) under a 0.5 s deadline ----------------------------------------------------------------

def test_service_unavailable_in_time_and_no_query_left_passes() -> None:
    slow = SlowQuery(raised(ServiceUnavailable("deadline"), 0.51))
    judge_gave_up(slow)
    assert "0.01 s past it" in judge_query_ended(slow)


def test_an_old_active_query_at_the_bound_means_no_deadline() -> None:
    call = BoundedCall(2.0, False, snapshot=[{"age": 2.0}])
    assert reason_of(judge_gave_up, SlowQuery(call)) == Reason.NO_DEADLINE


@pytest.mark.parametrize(("call", "says"), [
    (BoundedCall(2.0, False, snapshot=[{"age": 0.4}]), "a query started after the deadline"),  # a retry
    (BoundedCall(2.0, False, snapshot=[]), "no query active"),  # waiting on something else
    (BoundedCall(2.0, False, stuck=True, snapshot=[{"age": 2.0}]), "a query started"),  # swallowed cancel
])
def test_still_running_after_the_deadline_fired_is_deadline_missed(call: BoundedCall, says: str) -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_gave_up(SlowQuery(call))
    assert failure.value.reason == Reason.DEADLINE_MISSED
    assert says in failure.value.measured
    assert ("catches CancelledError" in failure.value.summary) == call.stuck


@pytest.mark.parametrize(("call", "reason"), [
    (returned([]), Reason.WRONG_RESULT),
    (raised(QueryCanceledError("canceling statement due to statement timeout")), Reason.DB_ERROR_ESCAPED),
    (raised(TimeoutError()), Reason.WRONG_EXCEPTION),
])
def test_anything_but_service_unavailable_fails(call: BoundedCall, reason: Reason) -> None:
    assert reason_of(judge_gave_up, SlowQuery(call)) == reason


@pytest.mark.parametrize(("elapsed", "reason"), [
    (SLOW_DEADLINE + SLACK - 0.01, None),
    (SLOW_DEADLINE + SLACK + 0.01, Reason.DEADLINE_MISSED),
    (SLOW_DEADLINE * EARLY + 0.01, None),
    (SLOW_DEADLINE * EARLY - 0.01, Reason.GAVE_UP_EARLY),
])
def test_the_deadline_bounds_from_both_sides(elapsed: float, reason: Reason | None) -> None:
    slow = SlowQuery(raised(ServiceUnavailable("deadline"), elapsed))
    if reason is None:
        judge_gave_up(slow)
    else:
        assert reason_of(judge_gave_up, slow) == reason


def test_a_query_still_active_after_giving_up_is_left_running() -> None:
    slow = SlowQuery(raised(ServiceUnavailable("deadline"), 0.5), active=[{"age": 2.1}])
    assert reason_of(judge_query_ended, slow) == Reason.QUERY_LEFT_RUNNING


# --- SQL that fails -------------------------------------------------------------------------------------------

def test_failing_sql_raised_as_the_callers_error_passes() -> None:
    assert judge_sql_error(raised(QueryCanceledError("no such table"), 0.01)) == "asyncpg.exceptions.QueryCanceledError"


@pytest.mark.parametrize(("call", "reason"), [
    (BoundedCall(3.5, False), Reason.DEADLINE_MISSED),
    (returned([]), Reason.WRONG_RESULT),
    (raised(ServiceUnavailable("db down")), Reason.SQL_ERROR_AS_UNAVAILABLE),
])
def test_failing_sql_not_raised_as_the_callers_error_fails(call: BoundedCall, reason: Reason) -> None:
    assert reason_of(judge_sql_error, call) == reason


@pytest.mark.parametrize(("elapsed", "decisive"), [(2 * (SLOW_DEADLINE + SLACK), True),
                                                   (2 * (SLOW_DEADLINE + SLACK) - 0.01, False)])
def test_only_a_call_still_running_at_twice_its_bound_is_not_measured_again(elapsed: float, decisive: bool) -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_gave_up(SlowQuery(BoundedCall(elapsed, False, stuck=True, snapshot=[])))
    assert failure.value.reason == Reason.DEADLINE_MISSED and failure.value.decisive is decisive
