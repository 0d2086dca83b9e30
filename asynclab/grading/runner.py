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

from . import forkserver
from .reasons import Reason
from .registry import Verdict, get_exercise
from .submission import Submission

GRACE = 15.0  # interpreter start, imports and the lab's start-up, on top of the check's own deadline


def _kill_group(proc: subprocess.Popen[bytes] | forkserver.Job) -> None:
    """Kill the check and everything it started (POSIX); on Windows, the worker itself."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        elif isinstance(proc, subprocess.Popen):
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _timed_out(ex_id: str, budget: float) -> Verdict:
    return Verdict(ex_id, "timeout", f"timed out after {budget:.0f} s and was stopped.", reason=Reason.TIMEOUT,
                   measured="the check process did not answer at all",
                   hint="Something blocks even the check's watchdog: a C call that never returns?")


def _forked(request: Path, work: Path, env: dict[str, str], log_path: Path, budget: float) -> int | None:
    """Run the worker forked from the preloaded server (forkserver.py): its exit code, or None at
    the hard deadline (its process group is killed). Raises forkserver.Unavailable to fall back."""
    job = forkserver.start(str(request), cwd=str(work), env=env, log=str(log_path))
    try:
        try:
            return job.wait(budget + GRACE)
        except TimeoutError:
            _kill_group(job)
            return None
    finally:
        _kill_group(job)  # process pools or threads the learner left behind
        job.close()


def _spawned(request: Path, work: Path, env: dict[str, str], log_path: Path, budget: float) -> int | None:
    """Run the worker in a fresh interpreter: its exit code, or None at the hard deadline."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asynclab.grading.worker", str(request)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(work), env=env, start_new_session=True,
        )
        try:
            return proc.wait(budget + GRACE)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            return None
        finally:
            _kill_group(proc)  # process pools or threads the learner left behind


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
        full_env = {**os.environ, **(env or {})}
        log_path.touch()
        returncode: int | None
        try:
            if not forkserver.available():
                raise forkserver.Unavailable("not on this platform")
            returncode = _forked(request, work, full_env, log_path, budget)
        except forkserver.Unavailable:
            returncode = _spawned(request, work, full_env, log_path, budget)
        if returncode is None:
            return _timed_out(ex.id, budget)
        if verdict_path.exists():
            return Verdict.from_dict(json.loads(verdict_path.read_text(encoding="utf-8")))
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-6:]
        return Verdict(ex.id, "error", "the check process crashed before it could give a verdict.", reason=Reason.CRASHED,
                       measured=f"exit code {returncode}", details="\n".join(tail))
