"""The old path of notebook 06's helpers, kept only for importers not yet moved: use `asynclab.lessons.background`.

The grading check of notebook 06 still imports from here while the checks move to their
per-exercise folders (issue 19); once its import names `asynclab.lessons.background`, delete
this module.
"""

from __future__ import annotations

from .background import (
    WorkerLab,
    capture_loop_errors,
    complaint_text,
    create_jobs_schema,
    drop_jobs_schema,
    open_pool,
    recording_logger,
)

__all__ = ["WorkerLab", "capture_loop_errors", "complaint_text", "create_jobs_schema", "drop_jobs_schema", "open_pool",
           "recording_logger"]
