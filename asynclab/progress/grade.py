"""Grade a folder of notebooks with the same runner as check(), several exercises at once.

Untouched starters are not graded at all (they are "not attempted", and grading them would
only prove again that the broken code is broken), so a fresh clone reports in a second and the
lab services start only when something needs grading.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from ..grading.measure import NOISY_REASONS
from ..grading.reasons import Reason
from ..grading.registry import all_exercises
from ..grading.runner import run_check
from ..grading.submission import Submission
from .course import find_exercises, is_untouched, starters
from .table import FAILED, NOT_ATTEMPTED, PASSED, Result

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS_ENV = "ASYNCLAB_SOLUTIONS"


def solutions_folder() -> Path:
    """Where the solution notebooks are: they give the course order and the starters.

    A clone installed with `pip install -e .` has them beside the package; an installed copy
    (a JupyterHub's user environment) is told by ASYNCLAB_SOLUTIONS or --solutions.
    """
    override = os.environ.get(SOLUTIONS_ENV)
    return Path(override) if override else REPO / "solutions"


def cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def course_order(solutions: Path) -> list[str]:
    """Every registered exercise, in the order the course meets them."""
    registered = all_exercises()
    ordered = [ex_id for ex_id in starters(solutions) if ex_id in registered]
    return ordered + [ex_id for ex_id in registered if ex_id not in ordered]


class Bar:
    """A one-line progress bar on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "grading") -> None:
        self.total, self.done, self.label = total, 0, label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()

    def step(self, label: str) -> None:
        with self.lock:
            self.done += 1
            filled = int(20 * self.done / max(self.total, 1))
            line = f"{self.label} [{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total} {label}"
            self.stream.write(("\r" + line.ljust(78)) if self.tty else line + "\n")
            if self.tty and self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


def _grade_one(submission: Submission) -> Result:
    started = time.monotonic()
    try:
        verdict = run_check(submission)
    except Exception as exc:  # noqa: BLE001 - the runner itself failed (no interpreter, no disk): say so, go on
        return Result(submission.exercise_id, FAILED, Reason.GRADER_ERROR, f"the grader could not run: {exc}")
    seconds = time.monotonic() - started
    if verdict.ok:
        return Result(submission.exercise_id, PASSED, seconds=seconds)
    return Result(submission.exercise_id, FAILED, verdict.reason or verdict.status, verdict.summary, seconds=seconds)


def _grade_all(to_grade: list[Submission], jobs: int, bar: Bar) -> dict[str, Result]:
    """Grade `jobs` at a time, then confirm each timing failure alone.

    Checks measure time and share the lab's servers here: two at once on a small machine can
    starve each other (seen: the capstone's load test beside 03's). So a failure for a noisy
    reason (the course's one list, measure.NOISY_REASONS) is re-graded alone before it is
    reported; a deterministic failure (a wrong result) and a passing answer are never re-run.
    """
    results: dict[str, Result] = {}

    def work(submission: Submission) -> Result:
        result = _grade_one(submission)
        bar.step(f"{submission.exercise_id} {result.status}")
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(work, to_grade):
            results[result.exercise_id] = result
    retry = [s for s in to_grade
             if results[s.exercise_id].status == FAILED and results[s.exercise_id].reason in NOISY_REASONS]
    if retry and jobs > 1:
        again = Bar(len(retry), bar.stream, "re-checking failures alone")
        for submission in retry:
            results[submission.exercise_id] = _grade_one(submission)
            again.step(f"{submission.exercise_id} {results[submission.exercise_id].status}")
    return results


def grade_folder(folder: Path, *, solutions: Path | None = None, jobs: int | None = None,
                 start_lab: Callable[[], object] | None = None, bar: Bar | None = None) -> tuple[list[Result], list[str]]:
    """Every registered exercise's result in course order, and one line per problem met.

    `start_lab` runs once before the first check, so every worker reuses one set of services
    (their addresses reach the workers through the environment).
    """
    solutions = solutions or solutions_folder()
    registered = {ex_id: ex.notebook for ex_id, ex in all_exercises().items()}
    found = find_exercises(folder, registered)
    canonical = find_exercises(solutions, registered)  # where a lost exercise belongs
    starter_of = starters(solutions)
    results: dict[str, Result] = {}
    to_grade: list[Submission] = []
    for ex_id in course_order(solutions):
        place = found.place(ex_id)
        if place is None or place.submission is None:
            why = found.problems.get(ex_id) or f"no cell starting with '# Exercise: {ex_id}' in {folder}/"
            results[ex_id] = Result(ex_id, FAILED, Reason.NOT_FOUND, why)
        elif is_untouched(place.submission.cell, starter_of.get(ex_id)):
            results[ex_id] = Result(ex_id, NOT_ATTEMPTED, notebook=place.notebook, section=place.section)
        else:
            to_grade.append(place.submission)
    problems = list(dict.fromkeys(found.problems.values()))
    if to_grade:
        if start_lab is not None:
            start_lab()
        results.update(_grade_all(to_grade, jobs or cores(), bar or Bar(len(to_grade))))
    ordered = []
    for ex_id in course_order(solutions):
        result = results[ex_id]
        place = found.place(ex_id) or canonical.place(ex_id)
        if place is not None and not result.notebook:
            result = Result(result.exercise_id, result.status, result.reason, result.summary, result.seconds,
                            place.notebook, place.section)
        ordered.append(result)
    return ordered, problems
