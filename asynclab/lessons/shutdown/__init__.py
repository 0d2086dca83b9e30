"""Notebook 09: shutdown, cancellation, visibility and tests.

Modules, one job each: work (the background job and its journal, which outlives the process),
apps (a naive and a graceful version of one small service), drill (traffic, SIGTERM, and what
became of every request and job). The services run under the capstone's `AppProcess` and the
drill's traffic is the capstone's `run_load`.
"""

from __future__ import annotations

from .apps import GRACEFUL, NAIVE, create_graceful_app, create_naive_app, drain
from .drill import DrillReport, ReadyWatch, shutdown_drill, shutdown_settings, watch_ready, work_path
from .work import JobTally, background_job, job_seconds, read_journal

__all__ = [
    "GRACEFUL", "NAIVE", "DrillReport", "JobTally", "ReadyWatch", "background_job", "create_graceful_app",
    "create_naive_app", "drain", "job_seconds", "read_journal", "shutdown_drill", "shutdown_settings",
    "watch_ready", "work_path",
]
