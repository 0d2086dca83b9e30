"""The two ways a submission is built agree, for every exercise of every solution notebook.

`pytest exercises_tests` reads the cells from the .ipynb file; `check("<id>")` in a notebook
reads the kernel's history. nbval's check cells grade the solutions through the second path
only, so the first is proved equal here instead of grading every solution twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab.grading.registry import all_exercises
from asynclab.grading.submission import Submission, from_history, from_notebook, read_notebook

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def _code_cells(path: Path) -> list[str]:
    """The sources the kernel records when a learner runs the notebook top to bottom."""
    cells = read_notebook(path)["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


def _cases() -> list:
    return [pytest.param(nb, ex_id, id=ex_id) for nb in sorted(SOLUTIONS.glob("*.ipynb")) for ex_id in from_notebook(nb)]


def _graded(s: Submission) -> tuple[str, str, int]:
    """What the worker gets from a submission."""
    return s.source, s.cell, s.cell_offset


@pytest.mark.parametrize(("notebook", "exercise_id"), _cases())
def test_file_and_kernel_history_build_the_same_submission(notebook: Path, exercise_id: str) -> None:
    from_file = from_notebook(notebook)[exercise_id]
    history = _code_cells(notebook)
    once = from_history(exercise_id, history)
    twice = from_history(exercise_id, history + history)  # "Run All" again: the latest runs win
    assert once is not None and twice is not None
    assert _graded(once) == _graded(from_file), f"{notebook.name} {exercise_id}: the two paths differ"
    assert _graded(twice) == _graded(from_file), f"{notebook.name} {exercise_id}: re-running the notebook changes it"


def test_every_registered_exercise_is_compared() -> None:
    assert {p.values[1] for p in _cases()} == set(all_exercises())
