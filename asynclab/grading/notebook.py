"""`check("<id>")` and `hint("<id>")`: the grader as a learner meets it, inside a notebook.

The check grades what the learner ran last (the kernel's history), in a separate process with
a deadline, so a hanging or blocking answer costs seconds, never the kernel.

When a hint shows (the rule, also told to the learner in the cell's output): a hint cell shows
the next hint only when it was *sent after that exercise's check had finished*, that is, when
the learner read a verdict and then asked. Run All sends every cell to the kernel at once, so its
hint cells were sent while the check still ran: they reveal nothing new (they repeat the hint
already shown, if any), however often Run All runs. The test compares two times from the same
clock, the frontend's: the `date` in the execute request's header of the hint cell and of the
check cell, the gap between them against how long the check took. A client that runs one cell
after another (nbclient, nbval) sends the hint after the check finished, so it gets hint 1.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import Any

from ..display.verdict import verdict_bundle, wrap
from ..progress.store import record as record_progress
from .registry import get_exercise
from .runner import run_check
from .submission import Submission, from_history

MUST_PASS_ENV = "ASYNCLAB_CHECKS_MUST_PASS"

_hint_level: dict[str, int] = {}


@dataclass
class _CheckRun:
    """When the latest check of an exercise was requested (frontend clock) and how long it took."""

    sent: dt.datetime | None
    seconds: float


_checks_run: dict[str, _CheckRun] = {}


class CheckDidNotPass(AssertionError):
    """Raised only when ASYNCLAB_CHECKS_MUST_PASS=1 (the solution notebooks under nbval)."""


_ran: list[str] = []


def _shell() -> Any:
    """The running IPython shell, or None outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def _record(result: object) -> None:
    info = getattr(result, "info", None)
    source = getattr(info, "raw_cell", None)
    if source:
        _ran.append(str(source))


def _install_recorder() -> None:
    """Record every cell this kernel runs, from the one that imported asynclab on.

    `In` is not enough: nbval (and any client that executes with store_history=False) leaves
    it empty. A post_run_cell callback registered while a cell runs is still called for that
    same cell, so the cell that imported asynclab is recorded too.
    """
    shell = _shell()
    if shell is None or getattr(shell, "_asynclab_recorder", False):
        return
    shell.events.register("post_run_cell", _record)
    shell._asynclab_recorder = True


def _history() -> list[str]:
    shell = _shell()
    if shell is None:
        return []
    stored = [str(s) for s in shell.user_ns.get("In", [])[:-1] if s]  # the last entry is this check cell
    return stored + _ran  # cells run before the import, then everything since; the latest run wins


def _submission(exercise_id: str) -> Submission | None:
    return from_history(exercise_id, _history())


def _request_sent() -> dt.datetime | None:
    """The `date` the frontend put in the header of the execute request now running, if any."""
    shell = _shell()
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else getattr(shell, "parent_header", None)
        date = (parent or {}).get("header", {}).get("date")
        if isinstance(date, str):
            date = dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
        if isinstance(date, dt.datetime):
            return date if date.tzinfo else date.replace(tzinfo=dt.UTC)
    except Exception:  # an unusual frontend: treat every run as deliberate
        return None
    return None


def _display(bundle: dict[str, str]) -> None:
    """HTML with a text twin in a kernel; the text alone anywhere else."""
    if _shell() is None:
        print(bundle["text/plain"])
        return
    from IPython.display import display

    display(bundle, raw=True)


def check(exercise_id: str) -> None:
    """Grade the latest run of the cell that starts with `# Exercise: <exercise_id>`."""
    try:
        ex = get_exercise(exercise_id)
    except KeyError as exc:
        print(f"❓ {exc.args[0]}")
        return
    submission = _submission(exercise_id)
    if submission is None:
        print(f"❓ {exercise_id}: run the exercise cell first (the one that starts with '# Exercise: {exercise_id}').")
        if os.environ.get(MUST_PASS_ENV) == "1":
            raise CheckDidNotPass(f"{exercise_id}: no exercise cell was run in this kernel")
        return
    sent, started = _request_sent(), time.monotonic()
    print(f"⏳ Checking {exercise_id} against the lab (at most {ex.deadline:.0f} s)…", flush=True)
    verdict = run_check(submission)
    record_progress(verdict)  # progress() shows it without re-grading
    _checks_run[exercise_id] = _CheckRun(sent, time.monotonic() - started)
    stuck = f'stuck? run hint("{exercise_id}")' if not verdict.ok and verdict.hint == "" and ex.hints else ""
    _display(verdict_bundle(verdict, footer=stuck))
    if not verdict.ok and os.environ.get(MUST_PASS_ENV) == "1":
        raise CheckDidNotPass(f"{exercise_id} did not pass: {verdict.summary}")


def _asked_after_verdict(exercise_id: str) -> bool:
    """True when this hint cell was sent after the exercise's latest check had finished (see the module doc)."""
    run = _checks_run[exercise_id]
    sent = _request_sent()
    if sent is None or run.sent is None:
        return True  # no dates to compare: a deliberate run
    return (sent - run.sent).total_seconds() >= run.seconds


def hint(exercise_id: str) -> None:
    """Show the next hint of the ladder: a nudge first, then the idea, then almost the code.

    Only after the learner has run the exercise's check and then asked (module doc): Run All
    reveals nothing new.
    """
    try:
        ex = get_exercise(exercise_id)
    except KeyError as exc:
        print(f"❓ {exc.args[0]}")
        return
    shown = _hint_level.get(exercise_id, 0)
    if exercise_id not in _checks_run:
        print(wrap(f'💡 No hint yet: run the exercise cell and check("{exercise_id}") first, read the verdict, '
                   f"then run this cell again: each run shows one more hint ({len(ex.hints)} in all).", indent="   "))
        return
    if _asked_after_verdict(exercise_id):
        level = min(shown, len(ex.hints) - 1)
        _hint_level[exercise_id] = level + 1
    elif shown:
        level = shown - 1  # Run All: repeat the hint already shown, never the next one
    else:
        print(wrap("💡 No hint yet: this cell ran straight after the check (Run All?). Read the verdict above, "
                   f"then run this cell on its own for hint 1 of {len(ex.hints)}.", indent="   "))
        return
    more = "Run this cell again for the next one." if level + 1 < len(ex.hints) else "That was the last hint."
    if level + 1 == shown and not _asked_after_verdict(exercise_id):
        more = "(shown before; run this cell on its own for the next one)" if level + 1 < len(ex.hints) else more
    print(wrap(f"💡 Hint {level + 1} of {len(ex.hints)} for {exercise_id}: {ex.hints[level]}", indent="   "))
    print(wrap(more, first="   ", indent="   "))


_install_recorder()
