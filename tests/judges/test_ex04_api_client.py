"""04-api-client's judge, from recorded measurements (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import httpx
import pytest

from asynclab.exercises.ex04_api_client.judge import (
    API_CALLS,
    API_LIMIT,
    ERROR_PATHS,
    Measurement,
    judge,
    judge_error_statuses,
)
from asynclab.grading.reasons import Reason

RESULTS = [{"id": str(i), "slept_ms": 30} for i in range(API_CALLS)]


def _good(**changes: Any) -> Measurement:
    m = Measurement(results=list(RESULTS), connections=API_LIMIT, peak=API_LIMIT, created=1, still_open=0,
                    sockets_left=0, seconds=0.9)
    return replace(m, **changes)


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    return httpx.HTTPStatusError(str(status), request=request, response=httpx.Response(status, request=request))


def test_the_solutions_measurement_passes() -> None:
    assert judge(_good()).ok
    assert judge_error_statuses([(path, status, _status_error(status)) for path, status in ERROR_PATHS]) is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"results": [*RESULTS[:-1], None]}, Reason.WRONG_RESULT),
    ({"results": [{"id": "1"}, *RESULTS[1:]]}, Reason.WRONG_RESULT),
    ({"created": API_CALLS // 2}, None),
    ({"created": API_CALLS // 2 + 1}, Reason.CLIENT_PER_REQUEST),
    ({"connections": API_LIMIT + 1}, Reason.CONNECTION_CHURN),  # never more than the limit at once
    ({"connections": API_LIMIT + 1, "peak": API_LIMIT + 1}, Reason.TOO_MANY_CONNECTIONS),
    ({"connections": int(API_CALLS * 0.9), "peak": 100, "created": 0}, Reason.CLIENT_PER_REQUEST),  # no httpx
    ({"sockets_left": 1}, Reason.NOT_CLOSED),
    ({"still_open": 1}, Reason.NOT_CLOSED),
    ({"resource_warnings": ["unclosed <socket.socket fd=12>"]}, Reason.NOT_CLOSED),
])
def test_verdicts_and_thresholds(reason_of: Any, changes: dict[str, Any], reason: Reason | None) -> None:
    assert reason_of(judge, _good(**changes)) is reason


@pytest.mark.parametrize("outcome", [{"detail": "Service Unavailable"}, _status_error(500), RuntimeError("x")])
def test_an_error_status_must_raise_its_own_error(reason_of: Any, outcome: Any) -> None:
    assert reason_of(judge_error_statuses, [("/error?rate=1&status=503", 503, outcome)]) is Reason.STATUS_UNCHECKED


def test_aiohttps_status_error_counts() -> None:
    error = aiohttp.ClientResponseError(None, (), status=404)  # type: ignore[arg-type]
    assert judge_error_statuses([("/users/0", 404, error)]) is None
