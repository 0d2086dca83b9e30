"""Notebook 09: shutdown, cancellation, visibility and tests.

Modules, one job each: work (the background job and its journal, which outlives the process),
apps (a naive and a graceful version of one small service), drill (traffic, SIGTERM, and what
became of every request and job), visibility (a request id in a ContextVar, a task dump), testing
(pytest in a child process, outcomes read from its JUnit report). The services run under the capstone's `AppProcess` and the
drill's traffic is the capstone's `run_load`.
"""

from __future__ import annotations

from .apps import GRACEFUL, NAIVE, create_graceful_app, create_naive_app, drain
from .drill import BURST_IDS, DrillReport, ReadyWatch, shutdown_drill, shutdown_settings, watch_ready, work_path
from .testing import Outcome, run_pytest
from .visibility import RequestIdFilter, await_chain, request_id, task_dump
from .work import JobTally, background_job, job_seconds, read_journal

__all__ = [
    "BURST_IDS", "GRACEFUL", "NAIVE", "DrillReport", "JobTally", "Outcome", "ReadyWatch", "RequestIdFilter",
    "await_chain", "background_job", "create_graceful_app", "create_naive_app", "drain", "job_seconds",
    "read_journal", "request_id", "run_pytest", "shutdown_drill", "shutdown_settings", "task_dump", "watch_ready",
    "work_path",
]
