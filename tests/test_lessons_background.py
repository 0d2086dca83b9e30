"""Notebook 06's helper package: its worker program starts cleanly as `python -m`.

WorkerLab runs `python -m asynclab.lessons.background.worker` in every worker process. If the
package's `__init__` imported that module, runpy would warn and run a second copy of it.
"""

from __future__ import annotations

import subprocess
import sys

from asynclab.lessons.background.worker_lab import PROGRAM


def test_the_worker_program_runs_as_main_without_a_second_copy() -> None:
    run = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", PROGRAM, "--help"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "durable" in run.stdout and "memory" in run.stdout


def test_the_package_does_not_import_the_worker_program() -> None:
    code = f"import sys, asynclab.lessons.background; print({PROGRAM!r} in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
