"""Learner progress: which exercises pass, which fail and why, and what to do next.

`progress()` in a notebook is instant: it shows the verdicts check() recorded (store.py).
`python -m asynclab.progress` re-grades the notebook files to be sure (__main__.py).
"""

from __future__ import annotations

import sys
import types

from .store import record as record_verdict
from .table import FAILED, NOT_ATTEMPTED, PASSED, Result, render_html, render_text

__all__ = ["progress", "record_verdict", "recorded_results"]


def recorded_results() -> list[Result]:
    """Every exercise in course order, from the verdicts check() recorded on this machine."""
    from ..grading.registry import all_exercises
    from . import store
    from .course import find_exercises
    from .grade import course_order, solutions_folder

    solutions = solutions_folder()
    places = find_exercises(solutions, {k: v.notebook for k, v in all_exercises().items()})
    recorded = store.load()
    results = []
    for ex_id in course_order(solutions):
        entry = recorded.get(ex_id, {})
        status = str(entry["status"]) if entry.get("status") in (PASSED, FAILED) else NOT_ATTEMPTED
        place = places.place(ex_id)
        results.append(Result(ex_id, status, str(entry.get("reason") or ""), str(entry.get("summary") or ""),
                              entry.get("seconds"), place.notebook if place else "", place.section if place else ""))
    return results


def progress() -> None:
    """Show my progress: the verdict of my latest check() of every exercise, and what is next.

    "not attempted" here means "never checked on this machine"; to re-grade the saved
    notebook files instead, run `python -m asynclab.progress` in a terminal.
    """
    results = recorded_results()
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is not None and get_ipython() is not None:
        display({"text/html": render_html(results), "text/plain": render_text(results)}, raw=True)
    else:
        print(render_text(results))


class _CallableModule(types.ModuleType):
    """`asynclab.progress` is this package *and* the notebook's `progress()`.

    Importing a submodule (check() imports `asynclab.progress.store`) binds the package to the
    attribute `asynclab.progress`, replacing any function of that name; so the package itself
    answers the call, and `from asynclab import progress; progress()` works in any import order.
    """

    def __call__(self) -> None:
        progress()


sys.modules[__name__].__class__ = _CallableModule
