"""Test-session wiring shared by nbval and the graders.

Autouse fixtures do not run for nbval cells, but pytest_configure does, and kernels and grader
subprocesses inherit os.environ. So the services start here and their addresses reach every
kernel and grader through ASYNCLAB_* variables:

* PostgreSQL starts once, in the controller, and every xdist worker shares it;
* the lab's API server starts once per process that runs tests: in each xdist worker (or in the
  controller when there are no workers). A check's thousands of requests on one worker then never
  show up in the latency another worker's check measures. A notebook's kernel, and a grader a
  kernel starts, use the API server of the worker that runs them.
"""

from __future__ import annotations

import os

import pytest

_started = []
PER_WORKER = "ASYNCLAB_API_PER_WORKER"  # set by the controller: each worker starts its own API server


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asynclab")
    group.addoption("--notebooks", default="solutions", help="grade the notebooks in this folder (default: solutions)")
    group.addoption("--expect", choices=["pass", "fail"], default="pass",
                    help="'fail' proves every exercise fails, for the reason its lesson is about (learner starters)")


def _needs_lab(config: pytest.Config) -> bool:
    if getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False):
        return True
    return any("exercises_tests" in str(arg) for arg in config.args)


def _has_workers(config: pytest.Config) -> bool:
    """True in an xdist controller that will start workers (-n N with N > 0, or -n auto)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return False
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


def pytest_configure(config: pytest.Config) -> None:
    from asynclab import lab

    worker = hasattr(config, "workerinput")
    if worker:
        if os.environ.get(PER_WORKER):
            _started.append(lab.start_sync())
        return
    if not _needs_lab(config):
        return
    if getattr(config.option, "nbval", False):
        os.environ["ASYNCLAB_CHECKS_MUST_PASS"] = "1"
    if _has_workers(config):
        lab.share_postgres_sync()
        os.environ[PER_WORKER] = "1"
        _started.append(True)
    else:
        _started.append(lab.start_sync())


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        os.environ.pop(PER_WORKER, None)
    if _started:
        from asynclab.lab import stop_sync

        stop_sync()
        _started.clear()
