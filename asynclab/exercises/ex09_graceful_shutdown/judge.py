"""The verdicts of 09-graceful-shutdown, from a recorded drill (check.py runs the app and the drill).

The thresholds are ratios, so they hold from one busy core to a fast laptop: the burst against one
request's `work_ms` (a loop that blocks answers BURST requests one after another, BURST times one;
a healthy app takes about 1 to 2.5 times one on a busy core), and the readiness window against
`ready_grace` (an app that flips `/ready` and hands over at once shows about 0.1 s of 503, far
below half of READY_GRACE).

Pure functions: tests/judges/test_ex09_graceful_shutdown.py gives every verdict and threshold from
hand-made drills, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...grading.reasons import Reason
from ...grading.registry import CheckFailed, Verdict, fail, passed
from ...lessons.shutdown import JobTally

WORK_MS = 150
JOB_SECONDS = 0.6
DRAIN_SECONDS = 1.0
READY_GRACE = 1.0  # long enough that "flipped, then handed over at once" (about 0.1 s of 503) is far below half of it
BURST = 10
BLOCKED_RATIO = 6.0  # burst time / one request's work_ms; a healthy app: about 1 to 2.5 on a busy core
STOP_GRACE = READY_GRACE + DRAIN_SECONDS + 3.0


@dataclass
class Drill:
    """What the drill saw, from outside the app's process (times in seconds after the load began)."""

    graceful: bool  # the process exited by itself within STOP_GRACE of SIGTERM
    stop_seconds: float  # from SIGTERM to the process's end
    first_not_ready: float | None  # the first /ready answer that was not 200
    first_refused: float | None  # the first /ready poll that got no answer at all
    lost: list[str]  # status (or error) of each request sent while the app looked ready that got no 2xx
    jobs: JobTally  # the journal, read after the process ended
    short_jobs: set[int]  # the started jobs that take JOB_SECONDS (the others never end by themselves)
    burst_seconds: float


def judge_factory(factory: Any) -> None:
    if not callable(factory):
        raise fail(Reason.NOT_A_FACTORY, "create_app is not a function.",
                   measured=f"create_app is a {type(factory).__name__}",
                   expected="def create_app(settings: dict) -> FastAPI", hint="Keep the name and the signature.")


def start_failure(log: str, error: str) -> CheckFailed:
    """The verdict when the app's process did not start: the last line of its log says why."""
    return fail(Reason.APP_DID_NOT_START, "your app did not start under uvicorn.",
                measured=_last_line(log) or error,
                expected="create_app(settings) returns a FastAPI app whose lifespan starts",
                hint="Call create_app(settings) in the notebook and read the error.")


def judge_burst(statuses: list[int | None], seconds: float) -> None:
    """Before the SIGTERM drill: a burst the app must answer at once (raises to stop the drill)."""
    if any(s is None for s in statuses):
        raise fail(Reason.NO_ANSWER, "GET /work/{job_id} got no answer.",
                   measured=f"{statuses.count(None)} of {len(statuses)} requests without an answer",
                   expected="200 after about work_ms", hint="Define `@app.get('/work/{job_id}')` and return a dict.")
    wrong = sorted({s for s in statuses if s != 200 and s is not None})
    if wrong:
        raise fail(Reason.WRONG_STATUS, "GET /work/{job_id} did not answer 200.", measured=f"statuses {wrong}",
                   expected="200", hint="Define `@app.get('/work/{job_id}')` with an int job_id; return a dict.")
    ratio = seconds / (WORK_MS / 1000)
    if ratio > BLOCKED_RATIO:
        raise fail(Reason.LOOP_BLOCKED, f"{BURST} requests at once took {ratio:.1f} times as long as one.",
                   measured=f"{seconds:.2f} s for {BURST} requests of {WORK_MS} ms",
                   expected=f"about the time of one ({WORK_MS} ms), at most {BLOCKED_RATIO:.0f}×",
                   hint="Something in your handler holds the event loop while it waits: use `await asyncio.sleep`, "
                        "never `time.sleep`.")


def judge(drill: Drill) -> Verdict:
    """The drill, in order: the process exits, /ready leads, no request lost, the drain is bounded but patient."""
    after = drill.stop_seconds
    if not drill.graceful:
        raise fail(Reason.SHUTDOWN_HANGS, f"after SIGTERM your app had not exited {STOP_GRACE:.1f} s later.",
                   measured=f"still running after {after:.1f} s; {drill.jobs.summary()}",
                   expected=f"exit within ready_grace + drain_seconds ({READY_GRACE + DRAIN_SECONDS:.1f} s) "
                            "plus the requests in flight",
                   hint="Some jobs never end by themselves. Wait for the jobs with a timeout "
                        "(`asyncio.wait(jobs, timeout=settings['drain_seconds'])`), then cancel the ones left.")
    window = (None if drill.first_not_ready is None or drill.first_refused is None
              else drill.first_refused - drill.first_not_ready)
    if drill.first_not_ready is None or (window is not None and window < READY_GRACE / 2):
        seen = ("/ready answered 200 until connections were refused" if drill.first_not_ready is None
                else f"/ready answered 503 only {window:.2f} s before connections were refused")
        raise fail(Reason.READINESS_LATE, "the load balancer learnt of the shutdown from refused connections.",
                   measured=seen,
                   expected=f"/ready answers 503 as soon as SIGTERM arrives, for about ready_grace ({READY_GRACE} s) "
                            "while the app still serves, before it stops accepting",
                   hint="Flip readiness in a SIGTERM handler of your own (`loop.add_signal_handler`), not in the "
                        "lifespan's shutdown (that runs after uvicorn closed its socket), and hand over to uvicorn's "
                        "handler `ready_grace` seconds later.")
    if drill.lost:
        raise fail(Reason.WRONG_STATUS, f"{len(drill.lost)} requests sent while your app looked ready got no 200.",
                   measured=f"answers: {', '.join(sorted(set(drill.lost)))}",
                   expected="every request that arrives before the app stops accepting is served",
                   hint="Keep serving /work while readiness is false: the load balancer needs ready_grace to move "
                        "traffic away.")
    jobs = drill.jobs
    eager = drill.short_jobs & jobs.cancelled
    if eager:
        raise fail(Reason.DRAIN_TOO_EAGER, f"{len(eager)} jobs that take {JOB_SECONDS} s were cancelled at shutdown.",
                   measured=jobs.summary(),
                   expected=f"jobs that can finish within drain_seconds ({DRAIN_SECONDS} s) finish",
                   hint="Wait for the jobs first (with a timeout of drain_seconds), and cancel only the ones still "
                        "running after it.")
    if jobs.lost:
        raise fail(Reason.AUDIT_LOST, f"{len(jobs.lost)} of {len(jobs.started)} background jobs vanished at shutdown: "
                   "neither finished nor cancelled.",
                   measured=jobs.summary(),
                   expected="every job finished, or was cancelled (and so logged) within drain_seconds",
                   hint="Keep every job task in a set, and after the lifespan's `yield` wait for them with a timeout, "
                        "cancel the rest and wait for those to end.")
    if not jobs.cancelled:
        raise fail(Reason.AUDIT_LOST, "no stuck job was cancelled: the check could not see the drain.",
                   measured=jobs.summary(), expected="the stuck jobs cancelled at the drain's bound",
                   hint="Start `background_job(settings, job_id)` for every /work request.")
    return passed(f"/ready went 503 first, no request was lost, and shutdown drained the jobs within its bound "
                  f"({after:.1f} s after SIGTERM).",
                  measured=f"burst of {BURST}: {drill.burst_seconds:.2f} s; {jobs.summary()}; "
                           f"readiness window {window if window is not None else 0:.2f} s")


def _last_line(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
