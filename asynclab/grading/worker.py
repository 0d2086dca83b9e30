"""Run one check in this process and write its verdict: `python -m asynclab.grading.worker REQUEST.json`.

Why a process of its own: the learner's code may block the loop, spin forever, leak tasks or
crash the interpreter. Here it can do all of that without touching the notebook's kernel or
the pytest process, and a watchdog thread still writes an honest verdict when time is up.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from .loopwatch import LoopWatch
from .measure import NOISY_REASONS, remeasure
from .reasons import Reason
from .registry import CheckFailed, Exercise, Verdict, get_exercise
from .submission import Size, grading_size

SUBMISSION_MODULE = "submission"


class _Outcome:
    """Write the verdict exactly once, whoever gets there first (check or watchdog)."""

    def __init__(self, path: str, exercise_id: str) -> None:
        self.path = path
        self.exercise_id = exercise_id
        self._lock = threading.Lock()
        self.written = False

    def write(self, verdict: Verdict) -> bool:
        with self._lock:
            if self.written:
                return False
            verdict.exercise = self.exercise_id
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(verdict.to_dict(), f)
            os.replace(tmp, self.path)
            self.written = True
            return True


class _Heartbeat:
    """Remembers when the event loop last ran, so a timeout can say *why* it happened."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.running = False

    async def beat(self) -> None:
        self.running = True
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(0.05)


_WAITS_FOREVER = "Something waits forever: a request with no deadline, a lock never released, a queue never fed?"


def _still_awaiting(deadline: float) -> str:
    return f"your code was still awaiting after {deadline:.0f} s"


def _timeout(deadline: float, measured: str, hint: str) -> Verdict:
    return Verdict("", "timeout", f"timed out after {deadline:.0f} s and was stopped.", reason=Reason.TIMEOUT,
                   measured=measured, hint=hint)


def _start_watchdog(outcome: _Outcome, heart: _Heartbeat, deadline: float) -> None:
    started = time.monotonic()

    def watch() -> None:
        time.sleep(deadline)
        silent = time.monotonic() - heart.last
        if not heart.running:
            measured = f"your cell was still running after {deadline:.0f} s, before the check could start"
            hint = "Look for a loop that never ends or a call that never returns at the top level of the cell."
        elif silent > 1.0:
            measured = (
                f"the event loop was blocked for the last {silent:.1f} s of {time.monotonic() - started:.0f} s: "
                "your code never gave control back"
            )
            hint = ("A busy loop or a blocking call (time.sleep, sync I/O, heavy CPU) holds the loop. "
                    "Await something, or offload it.")
        else:
            measured, hint = _still_awaiting(deadline), _WAITS_FOREVER
        if outcome.write(_timeout(deadline, measured, hint)):
            os._exit(3)

    threading.Thread(target=watch, name="asynclab-grading-watchdog", daemon=True).start()


def _where(tb: TracebackType | None, path: str, offset: int) -> str:
    """'your exercise cell, line 7' for the innermost frame in the learner's code."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == path:
            line = lineno
    if line is None:
        return ""
    if line > offset:
        return f"your exercise cell, line {line - offset}"
    return f"a setup cell (line {line} of the setup code)"


def _describe(exc: BaseException, path: str, offset: int) -> str:
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_describe(e, path, offset) for e in exc.exceptions[:3]]
        return f"{type(exc).__name__} of {len(exc.exceptions)}: " + "; ".join(leaves)
    where = _where(exc.__traceback__, path, offset)
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return f"{text} (at {where})" if where else text


def load_submission(source: str, folder: Path) -> tuple[ModuleType, str]:
    """Import the submission as a real module file, so process pools can pickle its functions."""
    path = folder / f"{SUBMISSION_MODULE}.py"
    path.write_text(source, encoding="utf-8")
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(SUBMISSION_MODULE, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[SUBMISSION_MODULE] = module
    spec.loader.exec_module(module)
    return module, str(path)


def _missing(ex: Exercise, module: ModuleType) -> list[str]:
    return [name for name in ex.defines if not hasattr(module, name)]


def _failed(failure: CheckFailed) -> Verdict:
    return Verdict("", "failed", failure.summary, reason=failure.reason, measured=failure.measured,
                   expected=failure.expected, hint=failure.hint)


STUCK_AFTER_CANCEL = 2.0  # seconds a check cancelled for blocking the loop gets to unwind


async def _attempt(ex: Exercise, module: ModuleType, lab: Any, source: tuple[str, int],
                   outcome: _Outcome) -> Verdict | CheckFailed:
    """One run of the check under the loop watch (see loopwatch.py): its verdict, or its failure.

    A learner stall ends the run at once with `loop-blocked`. A stall also explains a timing
    failure (too slow, deadline missed), so it wins over those; a deterministic failure (a wrong
    result) is kept, so every starter still fails for the reason its lesson is about.
    """
    def stuck(failure: CheckFailed) -> None:  # the loop never came back: answer from the sampler thread
        if outcome.write(_failed(failure)):
            os._exit(1)

    async with LoopWatch(*source, on_stuck=stuck) as watch:
        check = asyncio.create_task(ex.check(module, lab))
        guard = asyncio.create_task(watch.tripped(check))
        try:
            await asyncio.wait({check, guard}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the deadline cancels us: the check goes too
            check.cancel()
            raise
        finally:
            guard.cancel()
        if not check.done():  # the guard tripped
            check.cancel()
            done, _ = await asyncio.wait({check}, timeout=STUCK_AFTER_CANCEL)
            failure = watch.verdict()
            if not done:  # the learner's code swallows cancellation: answer now, leave the rest to the runner
                outcome.write(_failed(failure))
                os._exit(1)
            return failure
    try:
        verdict = check.result()
    except CheckFailed as failure:
        if watch.blocked and failure.reason in NOISY_REASONS and failure.reason != "loop-blocked":
            return watch.verdict()
        return failure
    if watch.blocked:
        return watch.verdict()
    return verdict if verdict is not None else Verdict("", "passed", "")


def _judge(result: Verdict | CheckFailed) -> Verdict:
    if isinstance(result, CheckFailed):
        raise result
    return result


async def _run(ex: Exercise, module: ModuleType, deadline: float, heart: _Heartbeat, source: tuple[str, int],
               outcome: _Outcome) -> Verdict:
    from ..lab import start

    beat = asyncio.create_task(heart.beat())
    ends = time.monotonic() + deadline
    try:
        async with asyncio.timeout(deadline):
            lab = await start()
            return await remeasure(lambda: _attempt(ex, module, lab, source, outcome), _judge,
                                   time_left=lambda: ends - time.monotonic())
    finally:
        beat.cancel()


def main(argv: list[str]) -> int:
    request: dict[str, Any] = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    ex = get_exercise(request["exercise"])
    outcome = _Outcome(request["verdict_path"], ex.id)
    deadline = float(request.get("deadline") or ex.deadline)
    heart = _Heartbeat()
    os.environ.setdefault("ASYNCLAB_NO_WIDGETS", "1")
    _start_watchdog(outcome, heart, deadline)
    offset = int(request["cell_offset"])
    folder = Path(request["folder"])
    path = str(folder / f"{SUBMISSION_MODULE}.py")

    try:
        module, path = load_submission(request["source"], folder)
    except SyntaxError as exc:
        line = (exc.lineno or 0) - offset
        outcome.write(Verdict("", "error", "your exercise cell does not compile.", reason=Reason.SYNTAX_ERROR,
                              measured=f"SyntaxError: {exc.msg} (line {line})",
                              hint="Fix the syntax, run the cell, then check again."))
        return 1
    except BaseException as exc:  # the learner's top-level code crashed
        outcome.write(Verdict("", "error", "your exercise cell raised an error when it ran.", reason=Reason.CELL_ERROR,
                              measured=_describe(exc, path, offset), hint="Run the cell in the notebook to see the full error."))
        return 1

    missing = _missing(ex, module)
    if missing:
        outcome.write(Verdict("", "failed", f"your cell does not define {', '.join(missing)}.", reason=Reason.MISSING_DEFINITION,
                              expected=f"the cell defines {', '.join(ex.defines)}",
                              hint="Keep the names and signatures from the exercise text."))
        return 1

    try:
        with grading_size(Size(request.get("size", Size.FULL))):
            verdict = asyncio.run(_run(ex, module, deadline, heart, (path, offset), outcome))
    except CheckFailed as failure:
        verdict = _failed(failure)
    except TimeoutError:
        verdict = _timeout(deadline, _still_awaiting(deadline), _WAITS_FOREVER)
    except BaseException as exc:
        verdict = Verdict("", "error", "your code raised an error during the check.", reason=Reason.CRASHED,
                          measured=_describe(exc, path, offset), hint="Run your code in the notebook to see the full error.")
    outcome.write(verdict)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
