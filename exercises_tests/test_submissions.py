"""Known answers, right and wrong, graded by the same checks.

Each file exercises_tests/submissions/<exercise-id>/<name>.py is the source of an exercise
cell. Its first line says what the grader must conclude: `# expect: pass` for a correct
answer written in another style, or `# expect: <reason>` for a common mistake, which must
fail with exactly that reason. The setup cells come from the solution notebook.

They run only when grading solutions/ (the default), not when a learner grades their work
(see conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asynclab.grading.registry import get_exercise
from asynclab.grading.runner import run_check
from asynclab.grading.submission import Submission, setup_of_notebook

HERE = Path(__file__).parent / "submissions"
EXPECT = re.compile(r"^#\s*expect:\s*(?P<what>[a-z0-9-]+)\s*$")
SOLUTIONS = Path(__file__).parent.parent / "solutions"


def _cases() -> list:
    cases = []
    for path in sorted(HERE.glob("*/*.py")):
        cases.append(pytest.param(path, id=f"{path.parent.name}/{path.stem}"))
    return cases




@pytest.mark.parametrize("path", _cases())
def test_known_answer(path: Path) -> None:
    ex_id = path.parent.name
    ex = get_exercise(ex_id)
    source = path.read_text(encoding="utf-8")
    header = source.split("\n", 1)[0]
    match = EXPECT.match(header.strip())
    assert match, f"{path}: first line must be '# expect: pass' or '# expect: <reason>'"
    cell = source.split("\n", 1)[1] if "\n" in source else ""
    cell = f"# Exercise: {ex_id}\n" + cell
    notebooks = sorted(SOLUTIONS.glob(f"{ex.notebook}_*.ipynb"))
    assert notebooks, f"no solution notebook for {ex_id}"
    submission = Submission(ex_id, setup_of_notebook(notebooks[0]), cell, origin=str(path))
    verdict = run_check(submission)
    want = match.group("what")
    if want == "pass":
        assert verdict.ok, f"{path.name} is a correct answer, but:\n{verdict.render()}"
    else:
        assert not verdict.ok, f"{path.name} is a known wrong answer ({want}), but it PASSED:\n{verdict.render()}"
        assert verdict.reason == want, f"{path.name} should fail with reason {want!r}:\n{verdict.render()}"
