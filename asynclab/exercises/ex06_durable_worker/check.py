"""The check of 06-durable-worker: `enqueue(pool, payload)` and `work(pool, handler, stop)` on a jobs
table, under a crash (notebook 06 · Background tasks that are not lost).

It runs the learner's `work` in three worker *processes* (the program is
`asynclab/lessons/background/worker.py`; it imports the submission file), on a private copy of
the jobs table that their pools see as `jobs` (search_path). The check enqueues 20 jobs with the
learner's `enqueue`; job VICTIM blocks its worker on the first attempt and that worker is SIGKILLed
mid-job; job LONG runs two leases (a heartbeat must keep it from running twice); job STEAL is
taken over by the check mid-handler (the old worker's completion must be fenced off). Then every
job must complete, none may stay claimed, workers must have run jobs side by side, a poison job
must run MAX_ATTEMPTS times and end 'failed' without ending work(), and the survivors must return
from `work` once `stop` is set.

This module drives the processes and reads the events and rows; judge.py decides what they mean.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ...grading.measure import require_coroutine_function
from ...grading.registry import Verdict, exercise, passed
from ...lab import Lab
from ...lessons.background import Event, WorkerLab, WorkerProcess, create_jobs_schema, drop_jobs_schema, open_pool
from .judge import (
    JOBS,
    LEASE,
    LONG,
    LONG_SECONDS,
    POISON,
    POISON_WITHIN,
    STEAL,
    STOP_WITHIN,
    THIEF,
    VICTIM,
    VICTIM_WITHIN,
    WORKERS,
    CrashRun,
    Poison,
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

HANDLER_MS = 100
READY_WITHIN = 15.0
STEAL_WITHIN = 10.0
RECLAIM_WITHIN = LONG_SECONDS + LEASE * 2 + 4.0  # after the kill: the long job, the lease, a busy machine
# After the kill, the victim's job must start again within this (its lease runs out, a survivor
# claims it). A right answer does it 1.6 s after the kill, also pinned to one core beside a CPU hog;
# a job that is lost never does, and its verdict no longer waits out RECLAIM_WITHIN.
VICTIM_BACK_WITHIN = LEASE * 2 + 2.0


@exercise(__file__)
async def check_durable_worker(module: ModuleType, lab: Lab) -> Verdict:
    enqueue = require_coroutine_function(module, "enqueue")
    require_coroutine_function(module, "work")
    folder = str(Path(module.__file__ or "").resolve().parent)  # noqa: ASYNC240  (one local stat before the check starts)
    schema = await create_jobs_schema(lab.pg.dsn, prefix="chk06")
    try:
        pool = await open_pool(lab.pg.dsn, schema, application_name="asynclab-check-06")
        try:
            return await _crash_test(module, enqueue, pool, lab.pg.dsn, schema, folder)
        finally:
            async with asyncio.timeout(5):
                await pool.close()
    finally:
        await drop_jobs_schema(lab.pg.dsn, schema)


async def _crash_test(module: ModuleType, enqueue: Any, pool: Any, dsn: str, schema: str, folder: str) -> Verdict:
    await _probe_enqueue(enqueue, pool)
    async with WorkerLab(dsn, schema, victim=VICTIM, handler_ms=HANDLER_MS, lease_seconds=LEASE, long=LONG,
                         long_ms=int(LONG_SECONDS * 1000), poison=POISON, steal=STEAL) as wl:
        for name in WORKERS:
            await wl.start(name, module=module.__name__, path=folder)
        if not await wl.wait_ready(WORKERS, within=READY_WITHIN):
            judge_worker_errors(wl.events(), "before it was ready")
            judge_not_started(_outputs(wl))
        async with asyncio.timeout(15):
            judge_ids([await enqueue(pool, {"n": n, "check": "06-durable-worker"}) for n in range(JOBS)])
        victim = await wl.wait_for_victim(VICTIM_WITHIN)
        judge_worker_errors(wl.events(), "while it worked")
        if victim is None:
            judge_no_victim(wl.events(), wl.done_counts())
        victim.kill()
        survivors = [w for w in wl.workers.values() if w is not victim]
        stolen = await _steal_mid_job(wl, pool)
        await wl.wait_until(lambda ev: _settled(ev, victim), RECLAIM_WITHIN)
        judge_worker_errors(wl.events(), "while it worked")
        await asyncio.sleep(0.3)  # the last "done" is logged just before the row is marked done
        fenced = await _thief_finishes(pool, stolen)
        rows = {r["n"]: dict(r) for r in await pool.fetch(
            "SELECT id, (payload::jsonb ->> 'n')::int AS n, status, locked_until, locked_by, attempts, "
            "extract(epoch FROM locked_until - now()) AS lease_left FROM jobs")}
        run = CrashRun(wl.events(), rows, victim.name, wl.max_overlap(exclude_victim=False), fenced)
        judge_crash_run(run)
        poison = await _poison_job(module, enqueue, pool, wl)
        for worker in survivors:
            worker.request_stop()
        names = {w.name for w in survivors}
        returned = await wl.wait_until(lambda ev: names <= {e.worker for e in ev if e.kind == "returned"}, STOP_WITHIN)
        judge_worker_errors(wl.events(), "when it was asked to stop")
        judge_stopped(returned)
        redone = max((e.t for e in wl.events() if e.kind == "done" and e.n == VICTIM), default=0.0)
        after = redone - (victim.killed_at or redone)
        return passed(f"{JOBS} jobs, {len(WORKERS)} worker processes, one SIGKILLed mid-job: every job completed once "
                      "(the long one too), none stayed claimed, a taken-over job was not marked done by its old "
                      "worker, the poison job was failed, and the survivors stopped when asked.",
                      measured=f"0 lost, 0 stuck, up to {run.overlap} jobs at once; job n={VICTIM} was done again "
                               f"{after:.1f} s after the kill (lease {LEASE} s); {poison}")


def _settled(events: list[Event], victim: WorkerProcess) -> bool:
    """Every job done; or every job but the victim's, which has not started again in VICTIM_BACK_WITHIN."""
    done = {e.n for e in events if e.kind == "done"}
    if done >= set(range(JOBS)):
        return True
    if not done >= set(range(JOBS)) - {VICTIM}:
        return False
    restarted = any(e.kind == "start" and e.n == VICTIM and e.worker != victim.name for e in events)
    return not restarted and time.time() - (victim.killed_at or time.time()) >= VICTIM_BACK_WITHIN


async def _steal_mid_job(wl: WorkerLab, pool: Any) -> dict[str, Any] | None:
    """Take job STEAL over while its handler runs, as a worker would once the lease ran out; then let it finish.

    Returns the row as the thief left it, or None if no worker reached the job (other verdicts explain why)."""
    if not await wl.wait_until(lambda ev: any(e.kind == "steal-wait" for e in ev), STEAL_WITHIN):
        wl.release_steal()
        return None
    async with asyncio.timeout(10):
        row = await pool.fetchrow(
            "UPDATE jobs SET locked_by = $1, attempts = attempts + 1, locked_until = now() + interval '60 seconds' "
            "WHERE id = (SELECT id FROM jobs WHERE (payload::jsonb ->> 'n')::int = $2 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, status, attempts, locked_by", THIEF, STEAL)
    wl.release_steal()
    # No row: deleted, or row-locked by the worker's own open transaction, which no one can take over while
    # that worker lives (a transaction-held lease is fenced by PostgreSQL itself).
    return dict(row) if row is not None else None


async def _thief_finishes(pool: Any, stolen: dict[str, Any] | None) -> str | None:
    """After the old worker's handler returned: a verdict's summary if its completion overwrote the thief's claim.

    Either way the thief then finishes the job, so the rest of the check sees a done row."""
    if stolen is None:
        return None
    async with asyncio.timeout(10):
        row = await pool.fetchrow("SELECT status, locked_by, attempts FROM jobs WHERE id = $1", stolen["id"])
        await pool.execute("UPDATE jobs SET status = 'done', done_at = now(), locked_until = NULL "
                           "WHERE id = $1 AND locked_by = $2", stolen["id"], THIEF)
    return fence_breach(stolen, dict(row) if row is not None else None)


async def _poison_job(module: ModuleType, enqueue: Any, pool: Any, wl: WorkerLab) -> str:
    """A job whose handler raises every time: retried up to MAX_ATTEMPTS, then 'failed'; work() carries on."""
    limit = max_attempts(getattr(module, "MAX_ATTEMPTS", None))
    async with asyncio.timeout(10):
        job_id = await enqueue(pool, {"n": POISON, "check": "06-durable-worker", "poison": True})

    async def status() -> str:
        async with asyncio.timeout(5):
            return str(await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job_id))

    def crashed() -> Any:
        return next((e for e in wl.events() if e.kind == "error" and "poison" in e.text), None)

    deadline = time.monotonic() + POISON_WITHIN
    while time.monotonic() < deadline:
        if await status() == "failed" or len(wl.starts(POISON)) > limit + 2 or crashed():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # a retry in flight shows up now
    return judge_poison(Poison(limit, len(wl.starts(POISON)), await status(), crashed()))


async def _probe_enqueue(enqueue: Any, pool: Any) -> None:
    """Before any worker runs: one enqueue() must leave one row, whose id it returns. The row is then removed."""
    async with asyncio.timeout(10):
        job_id = await enqueue(pool, {"n": -1, "probe": "06-durable-worker"})
        rows = await pool.fetch("SELECT id, status FROM jobs")
        await pool.execute("DELETE FROM jobs")
    judge_probe(job_id, [dict(r) for r in rows])


def _outputs(wl: WorkerLab) -> str:
    texts = [f"{w.name}: {w.output().strip().splitlines()[-1][:160]}" for w in wl.workers.values() if w.output().strip()]
    return "; ".join(texts) or "no output"
