"""03-stream-workers' judge, from recorded rounds (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from asynclab.exercises.ex03_stream_workers.judge import (
    EXTRA_TASKS,
    STILL_SINKING,
    Round,
    judge_round,
    judge_round1_speed,
    judge_round_raised,
    verdict,
)
from asynclab.grading.reasons import Reason

N, LIMIT, POOL = 200, 10, 20
IDEAL = 0.8  # ceil(200 / 10) × 40 ms


def _good(**changes: Any) -> Round:
    r = Round("round 1 (200 URLs, limit 10)", N, LIMIT, pulled=N, sunk=N, peak_tasks=LIMIT + 1, peak_read_ahead=LIMIT,
              exhausted=True, returned=True, result=N, seconds=0.9, since_last_sink=0.1,
              stats={"peak_in_flight": LIMIT, "connections": LIMIT, "requests": N}, pool=POOL)
    return replace(r, **changes)


def _stats(**changes: int) -> dict[str, int]:
    return {"peak_in_flight": LIMIT, "connections": LIMIT, "requests": N, **changes}


def test_the_solutions_rounds_pass() -> None:
    measured = judge_round(_good())
    assert judge_round1_speed(_good(), 40, IDEAL) is None
    assert verdict([measured, measured, measured]).ok


@pytest.mark.parametrize(("changes", "reason"), [
    ({"made": 1}, Reason.CLIENT_PER_REQUEST),
    ({"stats": _stats(connections=POOL + 1)}, Reason.CLIENT_PER_REQUEST),
    ({"violation": Reason.TOO_MANY_TASKS, "peak_tasks": LIMIT + EXTRA_TASKS + 1}, Reason.TOO_MANY_TASKS),
    ({"violation": Reason.UNBOUNDED_BUFFER, "peak_read_ahead": 5_001}, Reason.UNBOUNDED_BUFFER),
    ({"stats": _stats(peak_in_flight=LIMIT + 1)}, Reason.OVER_LIMIT),
    ({"returned": False}, Reason.TIMEOUT),  # everything sunk, never returned: workers never stop
    ({"returned": False, "exhausted": False, "sunk": 150, "since_last_sink": STILL_SINKING - 0.01}, Reason.TOO_SLOW),
    ({"returned": False, "exhausted": False, "sunk": 150, "since_last_sink": STILL_SINKING}, Reason.TIMEOUT),
    ({"sunk_failed": 1, "failing": 4}, Reason.STATUS_UNCHECKED),
    ({"bad_body": ("http://api/delay?id=x", "<Response [200 OK]>")}, Reason.WRONG_RESULT),
    ({"missing": 1}, Reason.LOST_URLS),
    ({"duplicates": 1}, Reason.LOST_URLS),
    ({"stats": _stats(requests=N + 1)}, Reason.LOST_URLS),
    ({"result": None}, Reason.WRONG_RESULT),
    ({"result": N, "failing": 4}, Reason.WRONG_RESULT),  # failed URLs are not counted
    ({"result": N - 4, "failing": 4}, None),
    ({"leaked": 1}, Reason.LEAKED_TASKS),
])
def test_round_verdicts(reason_of: Any, changes: dict[str, Any], reason: Reason | None) -> None:
    assert reason_of(judge_round, _good(**changes)) is reason


def test_round1_speed_threshold(reason_of: Any) -> None:
    assert reason_of(judge_round1_speed, _good(seconds=2 * IDEAL + 0.5), 40, IDEAL) is None
    assert reason_of(judge_round1_speed, _good(seconds=2 * IDEAL + 0.51), 40, IDEAL) is Reason.TOO_SLOW


def test_an_error_out_of_the_stream_ends_it(reason_of: Any, failure_of: Any) -> None:
    request = httpx.Request("GET", "http://api/error")
    error = httpx.HTTPStatusError("503", request=request, response=httpx.Response(503, request=request))
    assert reason_of(judge_round_raised, ExceptionGroup("g", [error]), "round 3") is Reason.ERROR_ENDS_STREAM
    assert "raised ExceptionGroup of HTTPStatusError" in failure_of(judge_round_raised, ExceptionGroup("g", [error]),
                                                                     "round 3").measured
