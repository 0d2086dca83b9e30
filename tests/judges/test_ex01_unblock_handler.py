"""01-unblock-handler's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from asynclab.exercises.ex01_unblock_handler.judge import (
    CALLS,
    PROBE_BLOCKED,
    PROBE_CALLS,
    TOTAL_CALLS,
    Measurement,
    Stall,
    judge,
    judge_probe,
)
from asynclab.grading.measure import STALL_SHARE
from asynclab.grading.reasons import Reason

USER = {"id": 7, "name": "Ada", "email": "ada@example.org", "tier": "gold", "score": 3}


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/users/0")
    return httpx.HTTPStatusError("404", request=request, response=httpx.Response(status, request=request))


def _good(**changes: Any) -> Measurement:
    m = Measurement(stall=Stall(CALLS, 0.05, "loop blocked 0.01 s"), results={7: dict(USER)}, expected={7: dict(USER)},
                    requests=TOTAL_CALLS, acquired=TOTAL_CALLS, unawaited=[], one_call=0.45, many=0.55,
                    default_pool_jobs=0, missing=_status_error(404))
    return replace(m, **changes)


def test_the_solutions_measurement_passes() -> None:
    assert judge(_good()).ok


@pytest.mark.parametrize(("share", "reason"), [(STALL_SHARE, None), (STALL_SHARE + 0.01, Reason.LOOP_BLOCKED)])
def test_stall_share_threshold(reason_of: Any, share: float, reason: Reason | None) -> None:
    assert reason_of(judge, _good(stall=Stall(CALLS, share, "s"))) is reason


@pytest.mark.parametrize(("share", "reason"), [(PROBE_BLOCKED, None), (PROBE_BLOCKED + 0.01, Reason.LOOP_BLOCKED)])
def test_the_probe_fails_only_a_clear_block(reason_of: Any, share: float, reason: Reason | None) -> None:
    assert reason_of(judge_probe, Stall(PROBE_CALLS, share, "s")) is reason


def test_a_client_per_call_is_named_in_the_stall(failure_of: Any) -> None:
    failure = failure_of(judge, _good(stall=Stall(CALLS, 0.9, "s", ["httpx.get (line 4)"], clients_made=CALLS)))
    assert "a new httpx.AsyncClient per call (50 made)" in failure.measured and "SSL context" in failure.hint
    failure = failure_of(judge_probe, Stall(PROBE_CALLS, 0.9, "s", ["time.sleep (line 3)"]))
    assert "quick probe" in failure.summary and "time.sleep (line 3)" in failure.measured


def test_wrong_result(reason_of: Any) -> None:
    assert reason_of(judge, _good(results={7: {"id": 7, "name": "Ada"}})) is Reason.WRONG_RESULT
    assert reason_of(judge, _good(results={7: None})) is Reason.WRONG_RESULT


@pytest.mark.parametrize(("field", "reason"), [("requests", Reason.CLIENT_NOT_USED), ("acquired", Reason.POOL_NOT_USED)])
def test_every_call_goes_through_the_given_client_and_pool(reason_of: Any, field: str, reason: Reason) -> None:
    assert reason_of(judge, _good(**{field: TOTAL_CALLS})) is None
    assert reason_of(judge, _good(**{field: TOTAL_CALLS - 1})) is reason


def test_not_awaited(reason_of: Any) -> None:
    assert reason_of(judge, _good(unawaited=["coroutine 'sleep' was never awaited"])) is Reason.NOT_AWAITED


def test_too_slow_at_the_limit(reason_of: Any) -> None:
    limit = _good().limit
    assert reason_of(judge, _good(many=limit)) is None
    assert reason_of(judge, _good(many=limit + 0.01)) is Reason.TOO_SLOW


def test_too_slow_names_the_default_pool_when_calls_queued_for_it(failure_of: Any) -> None:
    queued = failure_of(judge, _good(many=5.0, default_pool_jobs=CALLS))
    assert "default thread pool" in queued.measured and "to_thread" in queued.hint
    assert "default thread pool" not in failure_of(judge, _good(many=5.0)).measured


@pytest.mark.parametrize("missing", [{"detail": "not found"}, _status_error(500), KeyError("tier"),
                                     ExceptionGroup("g", [ValueError("x")])])
def test_a_404_must_raise_its_status_error(reason_of: Any, missing: Any) -> None:
    assert reason_of(judge, _good(missing=missing)) is Reason.STATUS_UNCHECKED


def test_a_404_inside_an_exception_group_passes() -> None:
    assert judge(_good(missing=ExceptionGroup("g", [_status_error(404)]))).ok
