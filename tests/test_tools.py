"""The make-test helpers: step parsing and the orphan detector."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from asynclab.tools.orphans import RUN_ENV, leftovers
from asynclab.tools.testrun import parse_steps


def test_steps_are_split_on_double_dash() -> None:
    steps = parse_steps(["unit", "--", "pytest", "-q", "tests", "gen", "--", "python", "-m", "x", "--check"])
    assert steps == [("unit", ["pytest", "-q", "tests"]), ("gen", ["python", "-m", "x", "--check"])]


def test_a_step_without_separator_is_refused() -> None:
    with pytest.raises(SystemExit):
        parse_steps(["unit", "pytest"])


def test_orphans_are_found_by_the_run_id_they_inherited_and_only_those() -> None:
    code = "import time; time.sleep(30)"
    ours = subprocess.Popen([sys.executable, "-c", code, "asynclab.services.fake"], env={**os.environ, RUN_ENV: "run-a"})
    other = subprocess.Popen([sys.executable, "-c", code, "asynclab.services.fake"], env={**os.environ, RUN_ENV: "run-b"})
    try:
        deadline = time.monotonic() + 10
        while not leftovers("run-a") and time.monotonic() < deadline:
            time.sleep(0.1)
        found = leftovers("run-a")
        assert len(found) == 1 and f"pid {ours.pid}" in found[0]
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait()
    assert leftovers("run-a") == []
