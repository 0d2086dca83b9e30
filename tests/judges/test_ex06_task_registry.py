"""06-task-registry's judge, from recorded steps: one test per verdict, and the drain thresholds from both sides."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from asynclab.exercises.ex06_task_registry.judge import (
    DRAIN_TIMEOUT,
    SPAWNED_NAME,
    TOO_EAGER,
    Cancelled,
    Drain,
    FailureLogs,
    Spawned,
    StubbornDrain,
    Survival,
    judge_cancel,
    judge_class,
    judge_drain,
    judge_failure_logged,
    judge_len_finished,
    judge_len_running,
    judge_quiet_loop,
    judge_spawned,
    judge_stubborn_drain,
    judge_survived,
)
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed


def reason_of(judge: Any, *args: Any) -> Reason:
    with pytest.raises(CheckFailed) as failure:
        judge(*args)
    return failure.value.reason


def record(level: int, message: str = "job failed", *, traceback: bool = False) -> logging.LogRecord:
    exc_info = None
    if traceback:
        try:
            raise LookupError("boom")
        except LookupError:
            exc_info = sys.exc_info()
    return logging.LogRecord("check", level, __file__, 1, message, None, exc_info)


def test_a_class_with_spawn_async_drain_and_len_passes() -> None:
    judge_class("BackgroundTasks", [], drain_is_async=True)


def test_a_class_without_a_method_or_with_a_sync_drain_fails() -> None:
    assert reason_of(judge_class, "BackgroundTasks", ["__len__"], True) == Reason.MISSING_METHOD
    assert reason_of(judge_class, "BackgroundTasks", [], False) == Reason.NOT_ASYNC


def test_spawn_returns_the_named_task() -> None:
    judge_spawned(Spawned(True, "<Task>", SPAWNED_NAME))
    assert reason_of(judge_spawned, Spawned(False, "None")) == Reason.NOT_A_TASK
    assert reason_of(judge_spawned, Spawned(True, "<Task>", "Task-7")) == Reason.NAME_IGNORED


@pytest.mark.parametrize("survival", [Survival(["Task was destroyed but it is pending!"], True),
                                      Survival([], False),
                                      Survival([], True, completed=False)])
def test_a_task_collected_or_never_completed_is_lost(survival: Survival) -> None:
    assert reason_of(judge_survived, survival) == Reason.TASK_LOST


def test_a_task_that_survives_and_completes_passes() -> None:
    judge_survived(Survival([], True))  # before its reply: not judged on completing yet
    judge_survived(Survival([], True, completed=True))


def test_one_error_with_its_traceback_passes() -> None:
    judge_failure_logged(FailureLogs("job failed", [record(logging.INFO, "retrying"),
                                                    record(logging.ERROR, traceback=True)]))


@pytest.mark.parametrize(("records", "reason"), [
    ([record(logging.WARNING, traceback=True)], Reason.NOT_LOGGED),
    ([], Reason.NOT_LOGGED),
    ([record(logging.ERROR, traceback=True), record(logging.CRITICAL, traceback=True)], Reason.LOGGED_TWICE),
    ([record(logging.ERROR)], Reason.NO_TRACEBACK),
])
def test_a_failure_not_logged_once_with_its_traceback_fails(records: list[logging.LogRecord], reason: Reason) -> None:
    assert reason_of(judge_failure_logged, FailureLogs("job failed", records)) == reason


def test_the_loops_own_complaint_is_quoted_when_nothing_was_logged() -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_failure_logged(FailureLogs("job failed", [], unretrieved=True))
    assert "never retrieved" in failure.value.measured


def test_a_quiet_cancel_passes() -> None:
    judge_cancel(Cancelled([], cancelled=True, done=True, loud=[]))


@pytest.mark.parametrize(("m", "reason"), [
    (Cancelled(["Exception in callback ... CancelledError"], True, True), Reason.CALLBACK_CRASHED),
    (Cancelled([], cancelled=False, done=True), Reason.CANCELLATION_SWALLOWED),
    (Cancelled([], cancelled=True, done=True, loud=[record(logging.ERROR, "cancelled")]), Reason.CANCEL_LOGGED),
])
def test_a_loud_or_swallowed_cancel_fails(m: Cancelled, reason: Reason) -> None:
    assert reason_of(judge_cancel, m) == reason


def test_len_counts_running_tasks_and_drops_to_zero() -> None:
    judge_len_running(3)
    judge_len_finished(0)
    assert reason_of(judge_len_running, 2) == Reason.WRONG_LEN
    assert reason_of(judge_len_finished, 3) == Reason.FINISHED_TASKS_KEPT


@pytest.mark.parametrize(("took", "reason"), [
    (DRAIN_TIMEOUT, None),
    (DRAIN_TIMEOUT * TOO_EAGER + 0.01, None),
    (DRAIN_TIMEOUT * TOO_EAGER - 0.01, Reason.DRAIN_TOO_EAGER),
])
def test_drain_waits_about_its_timeout(took: float, reason: Reason | None) -> None:
    if reason is None:
        assert "the endless one was cancelled" in judge_drain(Drain(took))
    else:
        assert reason_of(judge_drain, Drain(took)) == reason


@pytest.mark.parametrize(("m", "reason"), [
    (Drain(3.6, expired=True), Reason.DRAIN_NO_TIMEOUT),
    (Drain(0.6, raised="TimeoutError: "), Reason.DRAIN_RAISED),
    (Drain(0.6, quick_done=False), Reason.DRAIN_TOO_EAGER),
    (Drain(0.6, endless_done=False), Reason.DRAIN_LEAVES_TASKS),
])
def test_a_drain_that_breaks_a_promise_fails(m: Drain, reason: Reason) -> None:
    assert reason_of(judge_drain, m) == reason


def test_the_raised_text_loses_an_empty_message() -> None:
    with pytest.raises(CheckFailed) as failure:
        judge_drain(Drain(0.61, raised="TimeoutError: "))
    assert failure.value.measured == "TimeoutError, after 0.61 s"


@pytest.mark.parametrize(("m", "reason"), [
    (StubbornDrain(1.2), None),
    (StubbornDrain(2.1, expired=True), Reason.DRAIN_UNBOUNDED),
    (StubbornDrain(0.6, raised="CancelledError: "), Reason.DRAIN_RAISED),
    (StubbornDrain(0.6, swallowed=False), Reason.DRAIN_LEAVES_TASKS),
])
def test_drain_outlasts_a_task_that_ignores_its_cancel(m: StubbornDrain, reason: Reason | None) -> None:
    if reason is None:
        assert "drain returned after 1.20 s" in judge_stubborn_drain(m)
    else:
        assert reason_of(judge_stubborn_drain, m) == reason


def test_a_quiet_loop_passes_and_any_complaint_or_unawaited_coroutine_fails() -> None:
    judge_quiet_loop([], [])
    assert reason_of(judge_quiet_loop, ["Task exception was never retrieved"], []) == Reason.LOOP_COMPLAINT
    assert reason_of(judge_quiet_loop, [], ["coroutine 'job' was never awaited"]) == Reason.NOT_AWAITED
