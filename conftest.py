"""Test-session wiring shared by nbval and the graders.

Autouse fixtures do not run for nbval cells, but pytest_configure does, and kernels inherit
os.environ. So the lab services start once here, in the controller (never in an xdist
worker), and their addresses reach every kernel and grader through ASYNCLAB_* variables.
"""

from __future__ import annotations

import os

import pytest

_started = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asynclab")
    group.addoption("--notebooks", default="solutions", help="grade the notebooks in this folder (default: solutions)")
    group.addoption("--expect", choices=["pass", "fail"], default="pass",
                    help="'fail' proves every exercise fails, for the reason its lesson is about (learner starters)")


def _needs_lab(config: pytest.Config) -> bool:
    if getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False):
        return True
    return any("exercises_tests" in str(arg) for arg in config.args)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not _needs_lab(config):
        return
    if getattr(config.option, "nbval", False):
        os.environ["ASYNCLAB_CHECKS_MUST_PASS"] = "1"
    from asynclab.lab import start_sync

    _started.append(start_sync())


def pytest_unconfigure(config: pytest.Config) -> None:
    if _started:
        from asynclab.lab import stop_sync

        stop_sync()
        _started.clear()
