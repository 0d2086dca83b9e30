"""02-fetch-report's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from asynclab.exercises.ex02_fetch_all.judge import MAX_RATIO, N_SLOW, SLACK, Ended
from asynclab.exercises.ex02_fetch_report.judge import CancelRun, judge_cancel, judge_raised, judge_report, verdict
from asynclab.grading.reasons import Reason

GOOD = [f"http://api/delay?id=ok{i}" for i in range(8)]
BAD = [f"http://api/error?id=bad{i}" for i in range(2)]
URLS = GOOD[:3] + BAD[:1] + GOOD[3:6] + BAD[1:] + GOOD[6:]
SLOWEST = 0.22


def _status_error() -> httpx.HTTPStatusError:
    request = httpx.Request("GET", BAD[0])
    return httpx.HTTPStatusError("500", request=request, response=httpx.Response(500, request=request))


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {url: json.dumps({"id": f"ok{i}", "slept_ms": 150 + 10 * i}) for i, url in enumerate(GOOD)}
    report.update({url: _status_error() for url in BAD})
    report.update(changes)
    return report


def _cancelled(**stats: int) -> CancelRun:
    counters = {"in_flight": 0, "completed": 1, "disconnects": N_SLOW, **stats}
    return CancelRun(None, 0.4, N_SLOW, Ended(cancelled=True), after=0.01, stats=counters, since_cancel=0.1)


def test_the_solutions_measurement_passes() -> None:
    slowest = judge_report(_report(), URLS, GOOD, BAD, 0.3)
    assert slowest == pytest.approx(SLOWEST)
    assert verdict(0.3, slowest, judge_cancel(_cancelled())).ok


def test_speed_threshold(reason_of: Any) -> None:
    limit = MAX_RATIO * SLOWEST + SLACK
    assert reason_of(judge_report, _report(), URLS, GOOD, BAD, limit - 1e-9) is None
    assert reason_of(judge_report, _report(), URLS, GOOD, BAD, limit + 0.01) is Reason.TOO_SLOW


@pytest.mark.parametrize(("exc", "reason"), [
    (ExceptionGroup("g", [_status_error()]), Reason.ERROR_NOT_REPORTED),
    (_status_error(), Reason.ERROR_NOT_REPORTED),
    (ExceptionGroup("g", [asyncio.InvalidStateError()]), Reason.RESULT_READ_TOO_EARLY),
])
def test_raising_instead_of_reporting(reason_of: Any, exc: Exception, reason: Reason) -> None:
    assert reason_of(judge_raised, exc, len(URLS)) is reason


@pytest.mark.parametrize(("report", "reason"), [
    ([1, 2], Reason.WRONG_RESULT),
    ({url: v for url, v in _report().items() if url != GOOD[0]}, Reason.WRONG_RESULT),
    (_report(**{"http://other": "x"}), Reason.WRONG_RESULT),
    (_report(**{BAD[0]: "Internal Server Error"}), Reason.WRONG_RESULT),
    (_report(**{GOOD[0]: json.dumps({"id": "ok1", "slept_ms": 1})}), Reason.WRONG_RESULT),
    (_report(**{GOOD[2]: asyncio.CancelledError()}), Reason.CANCELLED_AS_VALUE),
])
def test_report_contents(reason_of: Any, report: Any, reason: Reason) -> None:
    assert reason_of(judge_report, report, URLS, GOOD, BAD, 0.3) is reason


@pytest.mark.parametrize(("run", "reason"), [
    (CancelRun(Ended(value={}), 0.3), Reason.WRONG_RESULT),
    (CancelRun(Ended(error=ValueError("x")), 0.3), Reason.WRONG_RESULT),
    (CancelRun(Ended(cancelled=True), 0.3), Reason.WRONG_RESULT),
    (CancelRun(None, 0.4, N_SLOW, Ended(running=True), after=4.0), Reason.CANCELLATION_SWALLOWED),
    (CancelRun(None, 0.4, N_SLOW, Ended(value={"u": asyncio.CancelledError()}), after=0.1), Reason.CANCELLATION_SWALLOWED),
    (CancelRun(None, 0.4, N_SLOW, Ended(error=RuntimeError("x")), after=0.1), Reason.CANCELLATION_SWALLOWED),
    (_cancelled(in_flight=1), Reason.CHILDREN_LEFT_RUNNING),
    (_cancelled(completed=2), Reason.CHILDREN_LEFT_RUNNING),
    (_cancelled(), None),
])
def test_cancellation_round(reason_of: Any, run: CancelRun, reason: Reason | None) -> None:
    assert reason_of(judge_cancel, run) is reason


def test_a_stored_cancellation_is_counted(failure_of: Any) -> None:
    run = CancelRun(None, 0.4, N_SLOW, Ended(value={"a": asyncio.CancelledError(), "b": "x"}), after=0.1)
    assert "stored CancelledError as the value of 1 URL(s)" in failure_of(judge_cancel, run).measured
