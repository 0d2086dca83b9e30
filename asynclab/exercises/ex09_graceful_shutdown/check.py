"""The check of notebook 09 · Shutdown: a service that stops without losing work.

09-graceful-shutdown runs the learner's `create_app(settings)` under uvicorn in a child process
(the capstone's `AppProcess`, through notebook 09's `shutdown_drill`), and judges from outside:

1. **Burst**: BURST requests to `GET /work/{id}` at once, before any shutdown.
   * a request with no answer -> "no-answer"; an answer other than 200 -> "wrong-status";
   * the burst took more than BLOCKED_RATIO times one request's `work_ms` -> "loop-blocked" (a loop
     that blocks answers them one after another: the derived blocking answer takes 10 × 0.35 s).
2. **Drill**: RATE requests/s for DURATION s with a readiness watcher polling `/ready` every 20 ms
   (a load balancer), and a real SIGTERM after SIGTERM_AFTER s.
   * the process had not exited STOP_GRACE s after SIGTERM (ready_grace + drain_seconds + slack):
     killed -> "shutdown-hangs" (a drain without a bound waits for the stuck jobs forever);
   * `/ready` never answered 503 while the service still accepted connections, or for less than
     half of `ready_grace` -> "readiness-late";
   * a request sent while the service still looked ready got no 200 -> "wrong-status";
   * a job that takes `job_seconds` (< drain_seconds) was cancelled -> "drain-too-eager";
   * a job started and then neither finished nor was cancelled (it vanished with the process)
     -> "audit-lost".

The jobs are `asynclab.lessons.shutdown.background_job`: each writes start/done/cancelled to a
journal file the check reads after the process has ended. Every STUCK_EVERY-th job never ends by
itself, so only a bounded drain lets shutdown finish.

Noise: the burst ratio and the readiness window are timing-judged, with wide margins; the worker
measures a "loop-blocked" verdict once more (measure.remeasure, the course's one policy). A failed
burst ends the run before the drill.
One run takes about 5 s on 2 busy cores (start 1.5 s, drill 2 s, stop about 2.5 s); a hanging app
takes up to STOP_GRACE after SIGTERM.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from ...grading.reasons import Reason
from ...grading.registry import Verdict, exercise, fail, passed
from ...lab import Lab
from ...lessons.capstone import AppStartError
from ...lessons.shutdown import DrillReport, job_seconds, shutdown_drill, shutdown_settings

WORK_MS = 150
JOB_SECONDS = 0.6
STUCK_EVERY = 5
DRAIN_SECONDS = 1.0
READY_GRACE = 1.0  # long enough that "flipped, then handed over at once" (about 0.1 s of 503) is far below half of it
BURST = 10
BLOCKED_RATIO = 6.0  # burst time / one request's work_ms; a healthy app: about 1 to 2.5 on a busy core
RATE = 40.0
DURATION = 1.8  # traffic still arrives when the socket closes (SIGTERM_AFTER + READY_GRACE)
SIGTERM_AFTER = 0.6
STOP_GRACE = READY_GRACE + DRAIN_SECONDS + 3.0


def settings_for(folder: str) -> dict[str, Any]:
    """The settings the check gives `create_app` (the exercise text lists the keys)."""
    return shutdown_settings(folder, work_ms=WORK_MS, job_seconds=JOB_SECONDS, stuck_every=STUCK_EVERY,
                             drain_seconds=DRAIN_SECONDS, ready_grace=READY_GRACE)


@exercise(__file__)
async def check_graceful_shutdown(module: ModuleType, lab: Lab) -> Verdict:
    factory = getattr(module, "create_app", None)
    if not callable(factory):
        raise fail(Reason.NOT_A_FACTORY, "create_app is not a function.",
                   measured=f"create_app is a {type(factory).__name__}",
                   expected="def create_app(settings: dict) -> FastAPI", hint="Keep the name and the signature.")
    folder = getattr(module, "__file__", None)
    app_dir = str(Path(folder).parent) if folder else None

    with tempfile.TemporaryDirectory(prefix="asynclab-chk09-") as tmp:
        settings = settings_for(tmp)
        try:  # _judge_burst raises before the drill when the burst already failed
            drill = await shutdown_drill(f"{module.__name__}:create_app", settings, app_dir=app_dir, clients=20,
                                         rate=RATE, duration=DURATION, sigterm_after=SIGTERM_AFTER,
                                         stop_grace=STOP_GRACE, burst=BURST, on_burst=_judge_burst)
        except AppStartError as exc:
            raise fail(Reason.APP_DID_NOT_START, "your app did not start under uvicorn.",
                       measured=_last_line(exc.log) or str(exc),
                       expected="create_app(settings) returns a FastAPI app whose lifespan starts",
                       hint="Call create_app(settings) in the notebook and read the error.") from None
        return _judge(drill, settings)


def _judge(drill: DrillReport, settings: dict[str, Any]) -> Verdict:
    after = drill.stop.seconds
    if not drill.stop.graceful:
        raise fail(Reason.SHUTDOWN_HANGS, f"after SIGTERM your app had not exited {STOP_GRACE:.1f} s later.",
                   measured=f"still running after {after:.1f} s; {drill.jobs.summary()}",
                   expected=f"exit within ready_grace + drain_seconds ({READY_GRACE + DRAIN_SECONDS:.1f} s) "
                            "plus the requests in flight",
                   hint="Some jobs never end by themselves. Wait for the jobs with a timeout "
                        "(`asyncio.wait(jobs, timeout=settings['drain_seconds'])`), then cancel the ones left.")
    ready = drill.ready
    window = (None if ready.first_not_ready is None or ready.first_refused is None
              else ready.first_refused - ready.first_not_ready)
    if ready.first_not_ready is None or (window is not None and window < READY_GRACE / 2):
        seen = ("/ready answered 200 until connections were refused" if ready.first_not_ready is None
                else f"/ready answered 503 only {window:.2f} s before connections were refused")
        raise fail(Reason.READINESS_LATE, "the load balancer learnt of the shutdown from refused connections.",
                   measured=seen,
                   expected=f"/ready answers 503 as soon as SIGTERM arrives, for about ready_grace ({READY_GRACE} s) "
                            "while the app still serves, before it stops accepting",
                   hint="Flip readiness in a SIGTERM handler of your own (`loop.add_signal_handler`), not in the "
                        "lifespan's shutdown (that runs after uvicorn closed its socket), and hand over to uvicorn's "
                        "handler `ready_grace` seconds later.")
    if drill.lost:
        statuses = sorted({str(r.status or r.error) for r in drill.lost})
        raise fail(Reason.WRONG_STATUS, f"{len(drill.lost)} requests sent while your app looked ready got no 200.",
                   measured=f"answers: {', '.join(statuses)}",
                   expected="every request that arrives before the app stops accepting is served",
                   hint="Keep serving /work while readiness is false: the load balancer needs ready_grace to move "
                        "traffic away.")
    jobs = drill.jobs
    short = {j for j in jobs.started if job_seconds(settings, j) == JOB_SECONDS}
    eager = short & jobs.cancelled
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


def _judge_burst(statuses: list[int | None], seconds: float) -> None:
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


def _last_line(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
