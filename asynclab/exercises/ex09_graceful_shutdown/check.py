"""The check of notebook 09 · Shutdown: a service that stops without losing work. It measures;
judge.py judges.

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

from ...grading.registry import Verdict, exercise
from ...lab import Lab
from ...lessons.capstone import AppStartError
from ...lessons.shutdown import DrillReport, job_seconds, shutdown_drill, shutdown_settings
from .judge import (
    BURST,
    DRAIN_SECONDS,
    JOB_SECONDS,
    READY_GRACE,
    STOP_GRACE,
    WORK_MS,
    Drill,
    judge,
    judge_burst,
    judge_factory,
    start_failure,
)

STUCK_EVERY = 5
RATE = 40.0
DURATION = 1.8  # traffic still arrives when the socket closes (SIGTERM_AFTER + READY_GRACE)
SIGTERM_AFTER = 0.6


def settings_for(folder: str) -> dict[str, Any]:
    """The settings the check gives `create_app` (the exercise text lists the keys)."""
    return shutdown_settings(folder, work_ms=WORK_MS, job_seconds=JOB_SECONDS, stuck_every=STUCK_EVERY,
                             drain_seconds=DRAIN_SECONDS, ready_grace=READY_GRACE)


@exercise(__file__)
async def check_graceful_shutdown(module: ModuleType, lab: Lab) -> Verdict:
    judge_factory(getattr(module, "create_app", None))
    folder = getattr(module, "__file__", None)
    app_dir = str(Path(folder).parent) if folder else None

    with tempfile.TemporaryDirectory(prefix="asynclab-chk09-") as tmp:
        settings = settings_for(tmp)
        try:  # judge_burst raises before the drill when the burst already failed
            drill = await shutdown_drill(f"{module.__name__}:create_app", settings, app_dir=app_dir, clients=20,
                                         rate=RATE, duration=DURATION, sigterm_after=SIGTERM_AFTER,
                                         stop_grace=STOP_GRACE, burst=BURST, on_burst=judge_burst)
        except AppStartError as exc:
            raise start_failure(exc.log, str(exc)) from None
        return judge(_recorded(drill, settings))


def _recorded(drill: DrillReport, settings: dict[str, Any]) -> Drill:
    """The drill's report reduced to what the judge reads."""
    return Drill(graceful=drill.stop.graceful, stop_seconds=drill.stop.seconds,
                 first_not_ready=drill.ready.first_not_ready, first_refused=drill.ready.first_refused,
                 lost=[str(r.status or r.error) for r in drill.lost], jobs=drill.jobs,
                 short_jobs={j for j in drill.jobs.started if job_seconds(settings, j) == JOB_SECONDS},
                 burst_seconds=drill.burst_seconds)
