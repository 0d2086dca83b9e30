"""The make-test helpers: step parsing, steps run beside each other, and the orphan detector."""

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


def test_a_step_marked_beside_runs_next_to_the_following_step_and_counts() -> None:
    def step(name: str, line: str, code: int = 0) -> list[str]:
        return [sys.executable, "-c", f"import sys, time; print('{name}', time.time()); time.sleep(0.5); "
                                      f"print('{name}', time.time()); print({line!r}); sys.exit({code})"]

    args = ["& lint", "--", *step("lint", "3 passed in 0.5s", 1), "tests", "--", *step("tests", "2 passed in 0.5s")]
    run = subprocess.run([sys.executable, "-m", "asynclab.tools.testrun", *args], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1, run.stdout  # the step beside failed: the run fails
    assert "make test: 5 passed, 1 failed" in run.stdout, run.stdout
    assert "FAIL  lint" in run.stdout and "(beside tests)" in run.stdout
    assert run.stdout.index("━━ lint (ran beside the step above)") > run.stdout.index("2 passed in 0.5s")
    stamps: dict[str, list[float]] = {"lint": [], "tests": []}
    for line in run.stdout.splitlines():
        name, _, stamp = line.partition(" ")
        if name in stamps:
            stamps[name].append(float(stamp))
    (lint_start, lint_end), (tests_start, tests_end) = stamps["lint"], stamps["tests"]
    assert lint_start < tests_end and tests_start < lint_end, stamps  # they ran at the same time
