"""09-graceful-shutdown's judge, from recorded drills (see tests/judges/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from asynclab.exercises.ex09_graceful_shutdown.judge import (
    BLOCKED_RATIO,
    BURST,
    READY_GRACE,
    WORK_MS,
    Drill,
    judge,
    judge_burst,
    judge_factory,
    start_failure,
)
from asynclab.grading.reasons import Reason
from asynclab.lessons.shutdown import JobTally

STARTED = set(range(40))
STUCK = {j for j in STARTED if j % 5 == 4}  # as the check's stuck_every=5
SHORT = STARTED - STUCK
ONE = WORK_MS / 1000


def _good(**changes: Any) -> Drill:
    """The solution's drill: /ready 503 at 0.5 s, refused from 1.6 s; short jobs done, stuck ones cancelled."""
    d = Drill(graceful=True, stop_seconds=2.2, first_not_ready=0.5, first_refused=1.6, lost=[],
              jobs=JobTally(started=set(STARTED), done=set(SHORT), cancelled=set(STUCK)), short_jobs=set(SHORT),
              burst_seconds=1.5 * ONE)
    return replace(d, **changes)


def test_the_solutions_drill_passes() -> None:
    v = judge(_good())
    assert v.ok
    assert "readiness window 1.10 s" in v.measured and "2.2 s after SIGTERM" in v.summary


@pytest.mark.parametrize(("changes", "reason"), [
    ({"graceful": False, "stop_seconds": 5.0}, Reason.SHUTDOWN_HANGS),
    ({"first_not_ready": None}, Reason.READINESS_LATE),
    ({"first_not_ready": None, "first_refused": None}, Reason.READINESS_LATE),
    ({"first_refused": None}, None),  # the watcher stopped before refusals: the window is open, not short
    ({"first_refused": 0.5 + READY_GRACE / 2}, None),
    ({"first_refused": 0.5 + READY_GRACE / 2 - 0.01}, Reason.READINESS_LATE),
    ({"lost": ["None"]}, Reason.WRONG_STATUS),
    ({"lost": ["503", "503", "ConnectError"]}, Reason.WRONG_STATUS),
    ({"jobs": JobTally(started=set(STARTED), done=SHORT - {0}, cancelled=STUCK | {0})}, Reason.DRAIN_TOO_EAGER),
    ({"jobs": JobTally(started=set(STARTED), done=set(SHORT), cancelled=STUCK - {4})}, Reason.AUDIT_LOST),
    ({"jobs": JobTally(started=set(STARTED), done=set(SHORT), cancelled=set())}, Reason.AUDIT_LOST),
    ({"jobs": JobTally(), "short_jobs": set()}, Reason.AUDIT_LOST),  # no job started: the drain cannot be seen
])
def test_verdicts_and_thresholds(reason_of: Any, changes: dict[str, Any], reason: Reason | None) -> None:
    assert reason_of(judge, _good(**changes)) is reason


def test_a_hanging_shutdown_is_judged_before_anything_else(reason_of: Any) -> None:
    drill = _good(graceful=False, first_not_ready=None, lost=["None"], jobs=JobTally(started=set(STARTED)))
    assert reason_of(judge, drill) is Reason.SHUTDOWN_HANGS


def test_lost_requests_show_each_answer_once(failure_of: Any) -> None:
    failure = failure_of(judge, _good(lost=["503", "None", "503"]))
    assert failure.summary.startswith("3 requests") and failure.measured == "answers: 503, None"


def test_vanished_jobs_are_counted(failure_of: Any) -> None:
    failure = failure_of(judge, _good(jobs=JobTally(started=set(STARTED), done=set(SHORT), cancelled={4, 9})))
    assert failure.summary.startswith(f"{len(STUCK) - 2} of {len(STARTED)} background jobs vanished")


@pytest.mark.parametrize(("statuses", "seconds", "reason"), [
    ([200] * BURST, ONE, None),
    ([200] * BURST, BLOCKED_RATIO * ONE, None),
    ([200] * BURST, BLOCKED_RATIO * ONE + 0.01, Reason.LOOP_BLOCKED),
    ([200] * BURST, BURST * 0.35, Reason.LOOP_BLOCKED),  # the derived blocking answer: one after another
    ([*[200] * (BURST - 1), None], ONE, Reason.NO_ANSWER),
    ([*[200] * (BURST - 1), 404], ONE, Reason.WRONG_STATUS),
    ([None, 500], 60.0, Reason.NO_ANSWER),  # no answer is judged first
])
def test_burst(reason_of: Any, statuses: list[int | None], seconds: float, reason: Reason | None) -> None:
    assert reason_of(judge_burst, statuses, seconds) is reason


def test_burst_wrong_statuses_are_listed(failure_of: Any) -> None:
    assert failure_of(judge_burst, [200, 422, 500, 422], ONE).measured == "statuses [422, 500]"


@pytest.mark.parametrize(("factory", "reason"), [(None, Reason.NOT_A_FACTORY), ("app", Reason.NOT_A_FACTORY),
                                                 (dict, None), (lambda settings: None, None)])
def test_create_app_must_be_callable(reason_of: Any, factory: Any, reason: Reason | None) -> None:
    assert reason_of(judge_factory, factory) is reason


def test_a_start_failure_shows_the_logs_last_line() -> None:
    failure = start_failure("INFO: starting\nTraceback ...\nNameError: name 'FastAPI' is not defined\n\n", "exit 1")
    assert failure.reason is Reason.APP_DID_NOT_START
    assert failure.measured == "NameError: name 'FastAPI' is not defined"
    assert start_failure("  \n", "the process exited with 1").measured == "the process exited with 1"
