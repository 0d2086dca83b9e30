"""`check("<id>")` and `hint("<id>")`: the grader as a learner meets it, inside a notebook.

The check grades what the learner ran last (the kernel's history), in a separate process with
a deadline, so a hanging or blocking answer costs seconds, never the kernel.
"""

from __future__ import annotations

import os
from typing import Any

from ..progress.store import record as record_progress
from .registry import Verdict, get_exercise
from .runner import run_check
from .submission import Submission, from_history

MUST_PASS_ENV = "ASYNCLAB_CHECKS_MUST_PASS"

_hint_level: dict[str, int] = {}
last_verdicts: dict[str, Verdict] = {}


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
    print(f"⏳ Checking {exercise_id} against the lab (at most {ex.deadline:.0f} s)…", flush=True)
    verdict = run_check(submission)
    last_verdicts[exercise_id] = verdict
    record_progress(verdict)  # progress() shows it without re-grading
    print(verdict.render())
    if not verdict.ok and verdict.hint == "" and ex.hints:
        print(f'   stuck? run hint("{exercise_id}")')
    if not verdict.ok and os.environ.get(MUST_PASS_ENV) == "1":
        raise CheckDidNotPass(f"{exercise_id} did not pass: {verdict.summary}")


def hint(exercise_id: str) -> None:
    """Show the next hint of the ladder: a nudge first, then the idea, then almost the code."""
    try:
        ex = get_exercise(exercise_id)
    except KeyError as exc:
        print(f"❓ {exc.args[0]}")
        return
    level = min(_hint_level.get(exercise_id, 0), len(ex.hints) - 1)
    _hint_level[exercise_id] = level + 1
    more = " Run hint() again for the next one." if level + 1 < len(ex.hints) else " That was the last hint."
    print(f"💡 Hint {level + 1} of {len(ex.hints)} for {exercise_id}: {ex.hints[level]}\n  {more.strip()}")


_install_recorder()
