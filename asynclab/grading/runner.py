"""Run a check in a worker process with a hard deadline, and always come back with a Verdict.

The worker has its own watchdog; this is the backstop for what a watchdog cannot catch (a
crash of the interpreter, a learner's code that kills its own process, a stuck import).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .registry import Verdict, get_exercise
from .submission import Submission

GRACE = 15.0  # interpreter start, imports and the lab's start-up, on top of the check's own deadline


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the check and everything it started (POSIX); on Windows, the worker itself."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def run_check(submission: Submission, *, deadline: float | None = None, env: dict[str, str] | None = None) -> Verdict:
    """Grade `submission` against its exercise's check; never raises for the learner's mistakes."""
    ex = get_exercise(submission.exercise_id)
    budget = float(deadline or ex.deadline)
    with tempfile.TemporaryDirectory(prefix="asynclab-check-") as folder:
        request = Path(folder, "request.json")
        verdict_path = Path(folder, "verdict.json")
        log_path = Path(folder, "output.log")
        work = Path(folder, "code")
        work.mkdir()
        request.write_text(json.dumps({
            "exercise": ex.id,
            "source": submission.source,
            "cell_offset": submission.cell_offset,
            "deadline": budget,
            "size": str(submission.size),
            "folder": str(work),
            "verdict_path": str(verdict_path),
        }), encoding="utf-8")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "asynclab.grading.worker", str(request)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(work), env={**os.environ, **(env or {})}, start_new_session=True,
            )
            try:
                proc.wait(budget + GRACE)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                return Verdict(ex.id, "timeout", f"timed out after {budget:.0f} s and was stopped.", reason="timeout",
                               measured="the check process did not answer at all",
                               hint="Something blocks even the check's watchdog: a C call that never returns?")
            finally:
                _kill_group(proc)  # process pools or threads the learner left behind
        if verdict_path.exists():
            return Verdict.from_dict(json.loads(verdict_path.read_text(encoding="utf-8")))
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-6:]
        return Verdict(ex.id, "error", "the check process crashed before it could give a verdict.", reason="crashed",
                       measured=f"exit code {proc.returncode}", details="\n".join(tail))
