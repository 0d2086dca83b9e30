"""The verdicts of 06-durable-worker, from what check.py recorded (worker events, job rows): unit-testable.

The workers write one event per line (`lessons.background.Event`: ready, start, victim,
steal-wait, done, returned, error, bad-payload); the check reads them and the jobs table, and each
judge here turns such a record into a verdict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, NoReturn

from ...grading.reasons import Reason
from ...grading.registry import fail
from ...lessons.background import Event

JOBS = 20
VICTIM = 6  # the job whose first attempt holds its worker until the check kills it
LONG = 9  # a job whose handler runs LONG_SECONDS, two leases: without a heartbeat it is claimed again
STEAL = 16  # a job the check takes over mid-handler, as a worker would after the lease ran out
POISON = JOBS  # enqueued after the crash test: its handler raises on every attempt
THIEF = "check-06-thief"
LEASE = 1.5  # seconds; the check's workers get ASYNCLAB_LEASE_SECONDS=1.5
# Two leases: a survivor re-claims an unrenewed job within LEASE + POLL_SECONDS (0.1 s) of its claim,
# 1.4 s before the first run ends. Three leases cost every check another 1.5 s for no extra proof.
LONG_SECONDS = 2 * LEASE
WORKERS = ("A", "B", "C")  # one is killed; two survivors, so a job whose lease runs out has someone to take it
VICTIM_WITHIN = 10.0
STOP_WITHIN = 3.0
POISON_WITHIN = 8.0  # MAX_ATTEMPTS quick retries (or a backoff shorter than the lease), on a busy machine
DEFAULT_MAX_ATTEMPTS = 3


def judge_probe(job_id: Any, rows: list[dict[str, Any]]) -> None:
    """One enqueue() before any worker runs: one 'queued' row, whose id it returned."""
    if not rows:
        raise fail(Reason.NOT_DURABLE, f"enqueue() returned {job_id!r}, but the jobs table is empty: the job lives only "
                   "in this process's memory, and dies with it.", measured="0 rows in jobs after enqueue()",
                   expected="1 row, status 'queued'", hint="INSERT each job into the jobs table: only what is in "
                   "PostgreSQL survives a crash, and other worker processes can only see what is there.")
    if isinstance(job_id, bool) or not isinstance(job_id, int) or [r["id"] for r in rows] != [job_id]:
        raise fail(Reason.WRONG_RESULT, "enqueue() should return the id of the row it inserted.",
                   measured=f"it returned {job_id!r:.60}; the table holds ids {[r['id'] for r in rows][:3]}",
                   expected="the new row's id (an int)", hint="`return await pool.fetchval(\"INSERT INTO jobs "
                   "(payload) VALUES ($1) RETURNING id\", json.dumps(payload))`")
    if rows[0]["status"] != "queued":
        raise fail(Reason.WRONG_RESULT, "enqueue() inserted a job that is not 'queued'.",
                   measured=f"status {rows[0]['status']!r}", expected="'queued' (the column's default)",
                   hint="Insert only the payload; let status default to 'queued'.")


def judge_ids(ids: list[Any]) -> None:
    if len(set(ids)) != JOBS:
        raise fail(Reason.WRONG_RESULT, "enqueue() returned the same id for different jobs.", measured=f"{ids[:5]!r:.80}…",
                   expected=f"{JOBS} distinct ids", hint="Return the id of the row you inserted (`RETURNING id`).")


def judge_worker_errors(events: list[Event], when: str) -> None:
    """A worker that crashed, or called the handler with something else than the payload."""
    for e in events:
        if e.kind == "error":
            raise fail(Reason.WORKER_CRASHED, f"worker {e.worker} crashed {when}.", measured=e.text,
                       expected="work() runs until stop is set", hint="Run your cell again, then call work() "
                       "yourself against a pool to see the whole traceback.")
        if e.kind == "bad-payload":
            raise fail(Reason.WRONG_PAYLOAD, "work() called the handler with something that is not the job's payload.",
                       measured=f"handler({e.text})", expected="handler(payload), the dict given to enqueue()",
                       hint="asyncpg returns jsonb as text: `await handler(json.loads(row['payload']))`.")


def judge_not_started(outputs: str) -> NoReturn:
    """The workers never said they were ready (after judge_worker_errors found no crash)."""
    raise fail(Reason.WORKER_CRASHED, "the worker processes did not start.", measured=outputs,
               expected="every worker process imports your cell and starts polling",
               hint="Run your exercise cell: does it import and run without errors?")


def _lost_text(lost: list[int]) -> str:
    return f"{len(lost)} of {JOBS} jobs never completed (n={', '.join(map(str, lost[:6]))}{', …' if len(lost) > 6 else ''})"


def _judge_quit(events: list[Event], lost: list[int]) -> None:
    early = [e for e in events if e.kind == "returned" and e.text == "early"]
    if early:
        raise fail(Reason.WORKER_QUIT, "work() returned on its own, before `stop` was set, and the jobs it left behind "
                   "were lost.", measured=f"{_lost_text(lost)}; worker {early[0].worker} returned early",
                   expected="work() keeps looking for jobs until stop is set", hint="When no job is ready, wait a "
                   "little (POLL_SECONDS) and look again: more jobs may come, and a dead worker's job comes back "
                   "when its lease runs out.")


def judge_no_victim(events: list[Event], counts: Counter[int]) -> NoReturn:
    """No worker reached the victim job within VICTIM_WITHIN."""
    _judge_quit(events, [n for n in range(JOBS) if counts[n] == 0])
    started = sum(1 for e in events if e.kind == "start")
    raise fail(Reason.NO_PROGRESS, f"no worker started job {VICTIM} within {VICTIM_WITHIN:.0f} s.",
               measured=f"{started} handler calls in all", expected=f"all {JOBS} jobs are taken, one by one",
               hint="work() should loop until `stop` is set: claim a job, `await handler(payload)`, "
                    "mark it done; when there is none, sleep a little and look again.")


def _judge_lost(lost: list[int], rows: dict[int, dict[str, Any]]) -> NoReturn:
    n = VICTIM if VICTIM in lost else lost[0]
    row = rows.get(n)
    measured = _lost_text(lost)
    if row is None:
        raise fail(Reason.JOB_LOST, "the job the killed worker was running is gone from the table: it was removed "
                   "before its handler finished.", measured=f"{measured}; no row for job n={n}",
                   expected=f"job n={n} runs again on the other worker", hint="Delete (or mark done) a job only "
                   "after `await handler(...)` returns. Claim it by marking it 'running' with a lease instead.")
    status, lease_left = row["status"], row["lease_left"]
    if status == "running" and row["locked_until"] is None:
        raise fail(Reason.JOB_LOST, f"job n={n} was claimed by the worker that was killed, and stays 'running' forever: "
                   "no lease, so no other worker ever takes it back.",
                   measured=f"{measured}; job n={n}: status 'running', locked_until NULL, attempts {row['attempts']}",
                   expected="after the lease runs out, the other worker runs it", hint="Set `locked_until = now() + "
                   "LEASE_SECONDS` when you claim, and let the claim take 'running' jobs whose lease has run out.")
    if status == "running" and lease_left is not None and lease_left > LEASE * 2:
        raise fail(Reason.LEASE_IGNORED, f"job n={n} is leased for far longer than LEASE_SECONDS.",
                   measured=f"{measured}; its lease still has {float(lease_left):.0f} s to run",
                   expected=f"a lease of LEASE_SECONDS ({LEASE} s in the check)", hint="Use LEASE_SECONDS from the "
                   "setup cell: `locked_until = now() + make_interval(secs => $1)` with LEASE_SECONDS as $1.")
    if status == "running":
        raise fail(Reason.JOB_LOST, f"job n={n}'s lease ran out, but no worker took it again.",
                   measured=f"{measured}; job n={n}: status 'running', lease over {-float(lease_left or 0):.1f} s ago",
                   expected="the claim also takes 'running' jobs whose lease has run out", hint="Claim `WHERE status "
                   "= 'queued' OR (status = 'running' AND locked_until < now())`.")
    raise fail(Reason.JOB_LOST, f"job n={n} never completed.", measured=f"{measured}; its row: status {status!r}, "
               f"attempts {row['attempts']}", expected="every job completes at least once",
               hint="Is work() still claiming jobs after the crash? Does it take every kind of claimable job?")


def duplicates(events: list[Event], killed: str) -> list[tuple[int, int]]:
    """Jobs completed more than once, where not one of the completions was by the killed worker."""
    by_job: dict[int, list[str]] = {}
    for e in events:
        if e.kind == "done" and e.n is not None:
            by_job.setdefault(e.n, []).append(e.worker)
    return [(n, len(ws)) for n, ws in sorted(by_job.items()) if len(ws) > 1 and killed not in ws]


@dataclass
class CrashRun:
    """Every job enqueued, one worker SIGKILLed mid-job, job STEAL taken over: what the check then saw."""

    events: list[Event]
    rows: dict[int, dict[str, Any]]  # by job number: status, locked_until, locked_by, attempts, lease_left
    killed: str  # the worker the check killed
    overlap: int  # the most handlers that ran at the same moment
    fenced: str | None = None  # what the old worker of job STEAL did to the thief's claim, if it changed it

    @property
    def counts(self) -> Counter[int]:
        """How many times each job number was completed (a handler ran to its end)."""
        return Counter(e.n for e in self.events if e.kind == "done" and e.n is not None)


def judge_crash_run(run: CrashRun) -> None:
    counts, rows = run.counts, run.rows
    lost = [n for n in range(JOBS) if counts[n] == 0]
    # A job that completed but is still claimable (queued, running) was never marked done.
    unmarked = {n: r for n, r in rows.items() if counts[n] > 0 and r["status"] in ("queued", "running")}
    if lost and not unmarked:
        _judge_quit(run.events, lost)
        _judge_lost(lost, rows)
    stuck = {n: r for n, r in rows.items() if r["status"] in ("queued", "running")}
    if any(n != LONG for n in stuck):  # the long job first gets its own verdict (a lease never renewed)
        unmarked = {n: r for n, r in unmarked.items() if n != LONG}
        stuck = {n: r for n, r in stuck.items() if n != LONG}
        n, row = sorted((unmarked or stuck).items())[0]
        again = max(counts.values()) if counts else 0
        raise fail(Reason.NOT_MARKED_DONE, f"{len(stuck)} job row(s) still say 'queued' or 'running' although "
                   f"{len(unmarked) or 'every'} job(s) completed.",
                   measured=f"job n={n} completed {counts[n]}×, and its row says {row['status']!r} "
                            f"(attempts {row['attempts']}); {len(lost)} job(s) never completed; "
                            f"the busiest job ran {again}×",
                   expected="a completed job is marked 'done' (or deleted)", hint="After `await handler(...)`, "
                   "`UPDATE jobs SET status = 'done', done_at = now() WHERE id = $1`: a job left 'running' "
                   "is delivered again when its lease runs out, over and over.")
    runs = [e for e in run.events if e.kind == "start" and e.n == LONG and e.worker != run.killed]
    if len(runs) > 1:
        raise fail(Reason.LEASE_NOT_RENEWED, f"job n={LONG} ran {len(runs)}× at the same time: its handler needs "
                   f"{LONG_SECONDS:.1f} s, its lease ran out after {LEASE} s, and another worker claimed it.",
                   measured=f"started by worker {runs[0].worker}, then by worker {runs[1].worker} "
                            f"{runs[1].t - runs[0].t:.1f} s later, while the first was still running",
                   expected="one run: the worker renews its lease while the handler runs",
                   hint="Run a heartbeat next to the handler: a task that every HEARTBEAT_SECONDS extends "
                        "`locked_until` (fenced by the claim), cancelled when the handler returns.")
    if LONG in stuck:
        row = stuck[LONG]
        raise fail(Reason.NOT_MARKED_DONE, f"job n={LONG} completed, but its row still says {row['status']!r}.",
                   measured=f"attempts {row['attempts']}, locked_by {row['locked_by']!r}",
                   expected="a completed job is marked 'done'", hint="Mark the job done after the handler "
                   "returns, fenced by the claim that ran it.")
    dupes = [(n, k) for n, k in duplicates(run.events, run.killed) if n != LONG]
    if dupes:
        raise fail(Reason.DUPLICATE_DELIVERY, "two live workers ran the same job.",
                   measured=", ".join(f"job n={n} completed {k}×" for n, k in dupes[:3]),
                   expected="each job runs once, and again only after its worker died",
                   hint="Claim with one atomic statement and `FOR UPDATE SKIP LOCKED`: a SELECT followed by an "
                        "UPDATE lets two workers read the same 'queued' row.")
    if run.overlap < 2:
        raise fail(Reason.WORKERS_SERIAL, "the workers never ran jobs at the same time: one always waited "
                   "for another.", measured=f"at most {run.overlap} handler running at once, with {len(WORKERS)} workers",
                   expected="2 jobs at once or more", hint="Without SKIP LOCKED, a worker blocks on the row another "
                   "worker has locked, for as long as that worker's transaction lasts. Add `SKIP LOCKED` to "
                   "`FOR UPDATE`, or keep the claim's transaction short.")
    if run.fenced is not None:
        raise fail(Reason.COMPLETION_NOT_FENCED, run.fenced,
                   expected="a worker whose claim was taken over changes nothing (its UPDATE matches 0 rows)",
                   hint="Fence every UPDATE after the claim by the claim itself: `WHERE id = $1 AND locked_by = $2 "
                        "AND attempts = $3`, with the values the claim returned. Then a worker whose lease ran out "
                        "cannot mark done (or fail) a job another worker holds.")


def fence_breach(stolen: dict[str, Any], row: dict[str, Any] | None) -> str | None:
    """The thief's claim on job STEAL as the old worker's handler left it: a verdict's summary if it was changed."""
    if row is None or row["locked_by"] != THIEF or row["status"] != "running":
        state = "gone" if row is None else f"status {row['status']!r}, locked_by {row['locked_by']!r}"
        return (f"a worker whose claim on job n={STEAL} had been taken over (locked_by {THIEF!r}, attempts "
                f"{stolen['attempts']}) still changed the row when its handler returned: now {state}.")
    return None


def max_attempts(module_value: Any) -> int:
    """The learner's MAX_ATTEMPTS when it is a positive int, else the setup cell's default."""
    ok = isinstance(module_value, int) and not isinstance(module_value, bool) and module_value > 0
    return module_value if ok else DEFAULT_MAX_ATTEMPTS


@dataclass
class Poison:
    """A job whose handler raises every time, after POISON_WITHIN (or once it was 'failed')."""

    limit: int  # MAX_ATTEMPTS
    runs: int  # handler starts
    final: str  # its status
    crashed: Event | None = None  # a worker's error event about it: work() let the exception out


def judge_poison(m: Poison) -> str:
    limit, runs, final = m.limit, m.runs, m.final
    if m.crashed is not None:
        raise fail(Reason.HANDLER_ERROR_ENDS_WORK, f"a handler raised, and worker {m.crashed.worker} ended: its work() "
                   "let the exception out.", measured=m.crashed.text,
                   expected=f"the error is logged, the job retried up to MAX_ATTEMPTS ({limit}), and work() carries on",
                   hint="Wrap `await handler(...)` in `try/except Exception`: log it, then send the job back to "
                        "'queued' (or to 'failed' once `attempts >= MAX_ATTEMPTS`), and go on to the next job.")
    if final != "failed" and runs > limit:
        raise fail(Reason.NO_RETRY_LIMIT, f"a job whose handler fails every time was tried {runs}× and is still "
                   f"{final!r}: it will be retried forever.", measured=f"{runs} attempts in {POISON_WITHIN:.0f} s, "
                   f"status {final!r}", expected=f"'failed' after MAX_ATTEMPTS ({limit}) attempts",
                   hint="When the handler raises and `attempts >= MAX_ATTEMPTS`, set status = 'failed' (the schema has "
                        "it): a poison job must stop taking a worker's time. The claim returns `attempts`.")
    if final != "failed" or runs != limit:
        raise fail(Reason.WRONG_RETRY_COUNT, f"a job whose handler fails every time should run MAX_ATTEMPTS ({limit}) "
                   "times, then be marked 'failed'.", measured=f"{runs} attempt(s), status {final!r}",
                   expected=f"{limit} attempts, status 'failed'",
                   hint="On an exception: `status = CASE WHEN attempts >= MAX_ATTEMPTS THEN 'failed' ELSE 'queued' END` "
                        "(fenced by the claim), so it is tried again at once, MAX_ATTEMPTS times in all.")
    return f"the poison job ran {runs}× and was marked 'failed'"


def judge_stopped(returned: bool) -> None:
    if not returned:
        raise fail(Reason.STOP_IGNORED, f"work() did not return within {STOP_WITHIN:.0f} s of `stop` being set.",
                   measured="the check had to kill the worker", expected="work() returns soon after stop.set()",
                   hint="Check `stop.is_set()` in the loop, and don't sleep long between looks: "
                        "`asyncio.wait_for(stop.wait(), POLL_SECONDS)` wakes up at once on stop.")
