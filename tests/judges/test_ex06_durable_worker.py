"""06-durable-worker's judge, from recorded worker events and job rows: one test per verdict."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from asynclab.exercises.ex06_durable_worker.judge import (
    JOBS,
    LEASE,
    LONG,
    STEAL,
    THIEF,
    VICTIM,
    CrashRun,
    Poison,
    duplicates,
    fence_breach,
    judge_crash_run,
    judge_ids,
    judge_no_victim,
    judge_not_started,
    judge_poison,
    judge_probe,
    judge_stopped,
    judge_worker_errors,
    max_attempts,
)
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import CheckFailed
from asynclab.lessons.background import Event

KILLED = "A"


def reason_of(judge: Any, *args: Any) -> Reason:
    with pytest.raises(CheckFailed) as failure:
        judge(*args)
    return failure.value.reason


def ev(kind: str, worker: str = "B", n: int | None = None, t: float = 0.0, text: str = "") -> Event:
    return Event(t, kind, worker, 100, n, text)


def done_row(**changes: Any) -> dict[str, Any]:
    return {"status": "done", "locked_until": None, "locked_by": "B", "attempts": 1, "lease_left": None, **changes}


def healthy(**rows: dict[str, Any]) -> CrashRun:
    """Every job done once by a survivor (the victim once more after its worker died), two at a time."""
    events = [ev("start", KILLED, VICTIM)] + [ev("done", "B" if n % 2 else "C", n) for n in range(JOBS)]
    table = {n: done_row() for n in range(JOBS)}
    table.update({int(n.removeprefix("n")): row for n, row in rows.items()})
    return CrashRun(events, table, KILLED, overlap=2)


def without_done(run: CrashRun, n: int) -> CrashRun:
    run.events = [e for e in run.events if not (e.kind == "done" and e.n == n)]
    return run


def test_a_healthy_run_passes() -> None:
    judge_crash_run(healthy())


def test_the_probe_wants_one_queued_row_and_its_id() -> None:
    judge_probe(7, [{"id": 7, "status": "queued"}])
    assert reason_of(judge_probe, 7, []) == Reason.NOT_DURABLE
    assert reason_of(judge_probe, True, [{"id": 1, "status": "queued"}]) == Reason.WRONG_RESULT
    assert reason_of(judge_probe, 8, [{"id": 7, "status": "queued"}]) == Reason.WRONG_RESULT
    assert reason_of(judge_probe, 7, [{"id": 7, "status": "running"}]) == Reason.WRONG_RESULT


def test_enqueue_returns_distinct_ids() -> None:
    judge_ids(list(range(JOBS)))
    assert reason_of(judge_ids, [1] * JOBS) == Reason.WRONG_RESULT


def test_worker_errors_and_bad_payloads() -> None:
    judge_worker_errors([ev("ready"), ev("done", n=1)], "while it worked")
    assert reason_of(judge_worker_errors, [ev("error", text="KeyError: 'n'")], "while it worked") == Reason.WORKER_CRASHED
    assert reason_of(judge_worker_errors, [ev("bad-payload", text="'{\"n\": 1}'")], "while it worked") == Reason.WRONG_PAYLOAD
    assert reason_of(judge_not_started, "A: SyntaxError") == Reason.WORKER_CRASHED


def test_no_victim_is_no_progress_unless_a_worker_quit() -> None:
    assert reason_of(judge_no_victim, [ev("ready")], Counter()) == Reason.NO_PROGRESS
    assert reason_of(judge_no_victim, [ev("returned", text="early")], Counter()) == Reason.WORKER_QUIT


@pytest.mark.parametrize(("row", "reason"), [
    (None, Reason.JOB_LOST),  # deleted before its handler finished
    (done_row(status="running", locked_until=None), Reason.JOB_LOST),  # claimed without a lease
    (done_row(status="running", locked_until="later", lease_left=LEASE * 2 + 1), Reason.LEASE_IGNORED),
    (done_row(status="running", locked_until="earlier", lease_left=-3.0), Reason.JOB_LOST),  # never reclaimed
    (done_row(status="failed"), Reason.JOB_LOST),
])
def test_the_killed_workers_job_never_completed(row: dict[str, Any] | None, reason: Reason) -> None:
    run = without_done(healthy(), VICTIM)
    if row is None:
        del run.rows[VICTIM]
    else:
        run.rows[VICTIM] = row
    assert reason_of(judge_crash_run, run) == reason


def test_a_lease_just_inside_twice_the_lease_is_not_lease_ignored() -> None:
    run = without_done(healthy(), VICTIM)
    run.rows[VICTIM] = done_row(status="running", locked_until="later", lease_left=LEASE * 2)
    assert reason_of(judge_crash_run, run) == Reason.JOB_LOST


def test_lost_jobs_after_a_worker_quit_is_worker_quit() -> None:
    run = without_done(healthy(), VICTIM)
    run.events.append(ev("returned", "B", text="early"))
    run.rows[VICTIM] = done_row(status="queued")
    assert reason_of(judge_crash_run, run) == Reason.WORKER_QUIT


def test_completed_jobs_still_claimable_are_not_marked_done() -> None:
    assert reason_of(judge_crash_run, healthy(n3=done_row(status="running"))) == Reason.NOT_MARKED_DONE


def test_the_long_job_run_twice_is_a_lease_not_renewed() -> None:
    run = healthy(n9=done_row(status="running"))
    run.events += [ev("start", "B", LONG, t=1.0), ev("start", "C", LONG, t=2.6)]
    assert reason_of(judge_crash_run, run) == Reason.LEASE_NOT_RENEWED


def test_the_long_job_not_marked_done_is_judged_after_its_lease() -> None:
    assert reason_of(judge_crash_run, healthy(n9=done_row(status="running"))) == Reason.NOT_MARKED_DONE


def test_a_job_done_twice_by_live_workers_is_a_duplicate_delivery() -> None:
    run = healthy()
    run.events.append(ev("done", "C", 1))
    assert duplicates(run.events, KILLED) == [(1, 2)]
    assert reason_of(judge_crash_run, run) == Reason.DUPLICATE_DELIVERY


def test_a_job_done_again_after_its_worker_was_killed_is_no_duplicate() -> None:
    run = healthy()
    run.events.append(ev("done", KILLED, 2))
    judge_crash_run(run)


def test_workers_that_never_overlap_are_serial() -> None:
    run = healthy()
    run.overlap = 1
    assert reason_of(judge_crash_run, run) == Reason.WORKERS_SERIAL


def test_an_unfenced_completion_overwrites_the_thiefs_claim() -> None:
    stolen = {"id": 17, "attempts": 2}
    assert fence_breach(stolen, {"status": "running", "locked_by": THIEF}) is None
    text = fence_breach(stolen, {"status": "done", "locked_by": "B"})
    assert text is not None and f"job n={STEAL}" in text
    run = healthy()
    run.fenced = text
    assert reason_of(judge_crash_run, run) == Reason.COMPLETION_NOT_FENCED


def test_max_attempts_falls_back_to_the_default_unless_a_positive_int() -> None:
    assert [max_attempts(v) for v in (5, 0, True, "3", None)] == [5, 3, 3, 3, 3]


@pytest.mark.parametrize(("m", "reason"), [
    (Poison(3, 3, "failed"), None),
    (Poison(3, 1, "queued", crashed=ev("error", text="poison: RuntimeError")), Reason.HANDLER_ERROR_ENDS_WORK),
    (Poison(3, 6, "queued"), Reason.NO_RETRY_LIMIT),
    (Poison(3, 3, "queued"), Reason.WRONG_RETRY_COUNT),  # at the limit, and not marked failed
    (Poison(3, 1, "failed"), Reason.WRONG_RETRY_COUNT),  # failed at once
    (Poison(3, 4, "failed"), Reason.WRONG_RETRY_COUNT),  # one attempt too many
])
def test_a_poison_job_runs_max_attempts_then_fails(m: Poison, reason: Reason | None) -> None:
    if reason is None:
        assert judge_poison(m) == "the poison job ran 3× and was marked 'failed'"
    else:
        assert reason_of(judge_poison, m) == reason


def test_work_returns_when_stopped() -> None:
    judge_stopped(True)
    assert reason_of(judge_stopped, False) == Reason.STOP_IGNORED
