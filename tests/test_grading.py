"""The grading pipeline end to end: real worker processes, real lab, deadlines that hold."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from asynclab.grading.registry import Verdict
from asynclab.grading.runner import run_check
from asynclab.grading.submission import Submission, from_history

HEADER = "# Exercise: 00-warm-up\nimport asyncio, time\n"
RIGHT = HEADER + "async def pause(seconds):\n    await asyncio.sleep(seconds)\n    return 'done'\n"
STARTER = HEADER + "async def pause(seconds):\n    time.sleep(seconds)\n    return 'done'\n"


@pytest.fixture(scope="module", autouse=True)
def lab_env() -> Iterator[None]:
    """One lab for the module; graders reuse it through the ASYNCLAB_* variables it exports."""
    from asynclab.lab import start_sync, stop_sync

    start_sync()
    yield
    stop_sync()


def grade(cell: str, deadline: float | None = None) -> Verdict:
    return run_check(Submission("00-warm-up", "# Setup: nothing\n", cell, origin="test"), deadline=deadline)


@pytest.mark.slow
def test_right_answer_passes() -> None:
    verdict = grade(RIGHT)
    assert verdict.ok, verdict.render()
    assert verdict.render().startswith("✅ 00-warm-up: passed.")


@pytest.mark.slow
def test_starter_fails_because_the_loop_blocks_and_says_why() -> None:
    verdict = grade(STARTER)
    assert (verdict.status, verdict.reason) == ("failed", "loop-blocked")
    text = verdict.render()
    assert "measured:" in text and "expected:" in text and "hint:" in text


@pytest.mark.slow
def test_endless_loop_times_out_within_its_deadline() -> None:
    started = time.monotonic()
    verdict = grade(HEADER + "async def pause(seconds):\n    while True:\n        pass\n", deadline=3)
    took = time.monotonic() - started
    assert verdict.status == "timeout", verdict.render()
    assert "never gave control back" in verdict.measured
    assert took < 3 + 10, f"the verdict took {took:.1f} s"


@pytest.mark.slow
def test_endless_await_times_out_and_says_it_was_waiting() -> None:
    verdict = grade(HEADER + "async def pause(seconds):\n    await asyncio.Event().wait()\n", deadline=3)
    assert verdict.status == "timeout" and "awaiting" in verdict.measured, verdict.render()


@pytest.mark.slow
def test_endless_loop_at_top_level_of_the_cell_times_out() -> None:
    verdict = grade(HEADER + "while True:\n    pass\n", deadline=3)
    assert verdict.status == "timeout" and "before the check could start" in verdict.measured, verdict.render()


@pytest.mark.parametrize(
    ("cell", "reason", "fragment"),
    [
        (HEADER + "async def pause(seconds)\n    return 'done'\n", "syntax-error", "line 3"),
        (HEADER + "async def wait(seconds):\n    return 'done'\n", "missing-definition", "pause"),
        (HEADER + "def pause(seconds):\n    return 'done'\n", "not-async", "async def"),
        (HEADER + "async def pause(seconds):\n    return 1 / 0\n", "crashed", "your exercise cell, line 4"),
        (HEADER + "raise RuntimeError('boom')\n", "cell-error", "boom"),
    ],
    ids=["syntax", "missing", "sync", "crash", "cell-raises"],
)
@pytest.mark.slow
def test_broken_answers_get_a_short_verdict(cell: str, reason: str, fragment: str) -> None:
    verdict = grade(cell)
    assert verdict.reason == reason, verdict.render()
    assert fragment in verdict.render()
    assert "Traceback" not in verdict.render()


def test_history_takes_the_latest_exercise_run_and_latest_setup() -> None:
    history = ["# Setup: imports\nimport a", "x = 1", HEADER + "v1", "# Setup: imports\nimport b", HEADER + "v2", "print()"]
    sub = from_history("00-warm-up", history)
    assert sub is not None
    assert sub.cell.endswith("v2") and sub.setup == "# Setup: imports\nimport b"
    assert from_history("01-unblock-handler", history) is None


@pytest.mark.slow
def test_check_in_a_real_kernel_survives_a_hanging_answer() -> None:
    """The notebook's check() returns a verdict for an endless loop, and the kernel still works after."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from asynclab import check, hint"),
        nbformat.v4.new_code_cell(HEADER + "async def pause(seconds):\n    while True:\n        pass\n"),
        nbformat.v4.new_code_cell("import asynclab.grading.registry as r\n"
                                  "r.get_exercise('00-warm-up').deadline = 3\ncheck('00-warm-up')"),
        nbformat.v4.new_code_cell("hint('00-warm-up')\nprint('kernel alive')"),
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    # Verdicts are display data (HTML and a text twin); hints are printed.
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for c in nb.cells for o in c.get("outputs", []))
    assert "⏱️ TIMED OUT 00-warm-up: timed out" in text
    assert "💡 Hint 1 of 3" in text and "kernel alive" in text


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "outcome"), [(RIGHT, "3 passed"), (STARTER, "1 failed, 2 passed")], ids=["right", "starter"])
def test_check_under_nbval_grades_the_cell_and_fails_the_run_when_it_must_pass(
    cell: str, outcome: str, tmp_path: Path
) -> None:
    """nbval runs cells with store_history=False, so check() must not depend on `In`."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from asynclab import check"), nbformat.v4.new_code_cell(cell),
                nbformat.v4.new_code_cell('check("00-warm-up")')]
    path = tmp_path / "graded.ipynb"
    nbformat.write(nb, path)
    env = {**os.environ, "ASYNCLAB_CHECKS_MUST_PASS": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", str(path),
                          "--rootdir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith(outcome), run.stdout[-2000:]
