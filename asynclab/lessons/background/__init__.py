"""Notebook 06 (background tasks that are not lost): what it measures from the outside, and its queue.

What the lesson keeps asking, answered from the outside:

* What did the event loop complain about, and what did the code log? `complaints`:
  `capture_loop_errors()` and `recording_logger(name)`.
* Where do the jobs live? `jobs_schema`: a private copy of the jobs table per user, and a pool
  that sees it as `jobs` (`create_jobs_schema`, `open_pool`).
* How does a durable queue claim, keep and finish a job? `durable_queue`: the claim with its
  lease, the heartbeat (`renew_lease`), the fenced SQL and the lab's `work`.
* Does the queue survive a crashed worker? `worker_lab.WorkerLab` starts worker processes (the
  program is `worker`, run with `python -m asynclab.lessons.background.worker`), reads their
  event logs (`events`) and SIGKILLs one mid-job.

`worker` is not imported here: it is the worker processes' `__main__`, and a package that
imported it first would make `-m` run a second copy of it.
"""

from __future__ import annotations

from .complaints import RecordingHandler, capture_loop_errors, complaint_text, recording_logger
from .durable_queue import (
    CLAIM_SQL,
    FINISH_SQL,
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    POLL_SECONDS,
    RENEW_SQL,
    RETRY_OR_FAIL_SQL,
    enqueue,
    renew_lease,
    work,
)
from .events import Event, read_events
from .jobs_schema import create_jobs_schema, drop_jobs_schema, open_pool
from .worker_lab import WorkerLab, WorkerProcess

__all__ = ["CLAIM_SQL", "FINISH_SQL", "LEASE_SECONDS", "MAX_ATTEMPTS", "POLL_SECONDS", "RENEW_SQL", "RETRY_OR_FAIL_SQL",
           "Event", "RecordingHandler", "WorkerLab", "WorkerProcess", "capture_loop_errors", "complaint_text",
           "create_jobs_schema", "drop_jobs_schema", "enqueue", "open_pool", "read_events", "recording_logger",
           "renew_lease", "work"]
