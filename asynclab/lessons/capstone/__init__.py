"""Notebook 07 (capstone): a service, the process it runs in, and a load generator to measure it.

The service reads a user from PostgreSQL, enriches it from a "partner" API (the lab's HTTP API)
and records an audit event. `apps` holds it once per step of the notebook, each step one fix more,
so notebook 07 and `make bench` can put one mistake at a time under the same load:

    settings = default_settings(lab.api.scoped().url, lab.pg.dsn, fixes=FIXES)
    async with await AppProcess.start(app_factory(FIXES), settings) as app:   # uvicorn, in a subprocess
        report = await run_load(app.url, clients=200, duration=2, rate=100, path_fn=user_path)
    print(report.summary())   # throughput, p50/p99 latency, errors, and the app's own loop lag

Modules, one job each: settings (the settings dict, the partner's behaviour per user), metrics
(`/metrics` for any FastAPI app), apps (one app per fix), process (uvicorn in a child process),
load (the load generator and its report), progress (the live line), steps (one notebook step),
picture (the summary figure).
"""

from __future__ import annotations

from .apps import APPS, app_factory, app_module
from .load import LoadReport, Probe, Result, percentile, run_load
from .metrics import ServiceMetrics, add_metrics, count_http_clients
from .picture import plot_steps
from .process import AppProcess, AppStartError, StopReport
from .settings import (
    FIXES,
    default_settings,
    healthy_ids,
    healthy_user_path,
    partner_kind,
    partner_url,
    path_user,
    unused_healthy_ids,
    user_path,
)
from .steps import StepResult, count_audit_events, run_step

__all__ = [
    "APPS", "FIXES", "AppProcess", "AppStartError", "LoadReport", "Probe", "Result", "ServiceMetrics", "StepResult",
    "StopReport", "add_metrics", "app_factory", "app_module", "count_audit_events", "count_http_clients",
    "default_settings", "healthy_ids", "healthy_user_path", "partner_kind", "partner_url", "path_user", "percentile",
    "plot_steps", "run_load", "run_step", "unused_healthy_ids", "user_path",
]
