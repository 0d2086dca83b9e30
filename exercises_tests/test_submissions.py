"""Known answers, right and wrong, graded by the same checks.

Each file asynclab/exercises/<folder>/answers/<name>.py is the source of an exercise cell, and
each <name>.edit a small change to the solution's cell (grading/submission.py). Its first line
says what the grader must conclude: `# expect: pass` for a correct answer written in another
style, or `# expect: <reason>` for a common mistake, which must fail with exactly that reason.
The setup cells come from the solution notebook.

Known answers are graded at Size.SMALL: a check may run its heaviest round smaller for them,
where every failure that round exists for shows long before the full size (see each check's
`sized(...)`). Solutions and learners are always graded at full size.

They run only when grading solutions/ (the default), not when a learner grades their work
(see conftest.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from asynclab.grading.layout import answer_files, exercise_id_of_folder
from asynclab.grading.runner import run_check
from asynclab.grading.submission import Size, known_answer

SOLUTIONS = Path(__file__).parent.parent / "solutions"


def _cases() -> list:
    return [pytest.param(path, id=f"{exercise_id_of_folder(path.parent.parent)}/{path.stem}") for path in answer_files()]


@pytest.mark.parametrize("path", _cases())
def test_known_answer(path: Path) -> None:
    submission, want = known_answer(path, SOLUTIONS)
    verdict = run_check(dataclasses.replace(submission, size=Size.SMALL))
    if want == "pass":
        assert verdict.ok, f"{path.name} is a correct answer, but:\n{verdict.render()}"
    else:
        assert not verdict.ok, f"{path.name} is a known wrong answer ({want}), but it PASSED:\n{verdict.render()}"
        assert verdict.reason == want, f"{path.name} should fail with reason {want!r}:\n{verdict.render()}"
