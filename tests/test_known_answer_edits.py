"""Known wrong answers written as a change to the solution (`answers/<name>.edit`).

The edit must apply to exactly one place, so when the solution changes under it the test says
which block no longer matches instead of grading some other code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab.grading.layout import answer_files
from asynclab.grading.submission import apply_edit, known_answer

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
CELL = "async def f():\n    await g()\n    return 1\n"


def _block(old: str, new: str) -> str:
    return f"<<<<<<< solution\n{old}=======\n{new}>>>>>>> answer\n"


def test_an_edit_replaces_its_block() -> None:
    assert apply_edit(CELL, _block("    await g()\n", "    g()\n")) == "async def f():\n    g()\n    return 1\n"


def test_several_blocks_apply_in_order() -> None:
    edit = _block("    await g()\n", "    g()\n") + "# and\n" + _block("    return 1\n", "    return 2\n")
    assert apply_edit(CELL, edit) == "async def f():\n    g()\n    return 2\n"


@pytest.mark.parametrize(("cell", "count"), [(CELL.replace("g()", "h()"), 0), (CELL + CELL, 2)])
def test_a_block_must_match_exactly_once(cell: str, count: int) -> None:
    with pytest.raises(ValueError, match=f"occurs {count} times"):
        apply_edit(cell, _block("    await g()\n", "    g()\n"))


def test_an_edit_without_blocks_is_refused() -> None:
    with pytest.raises(ValueError, match="no '<<<<<<< solution'"):
        apply_edit(CELL, "# expect: too-fast\n")


@pytest.mark.parametrize("path", [p for p in answer_files() if p.suffix == ".edit"], ids=lambda p: p.stem)
def test_every_edit_applies_to_its_solution(path: Path) -> None:
    submission, want = known_answer(path, SOLUTIONS)
    assert want != "pass", f"{path}: an edit of the solution is a wrong answer; a right one is written whole"
    assert "### BEGIN SOLUTION" in submission.cell  # built from the solution cell, not from the file
    compile(submission.cell, str(path), "exec")
