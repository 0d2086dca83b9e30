"""House rules for every solution notebook (see asynclab/authoring/lint.py for why each exists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab.authoring.lint import problems

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_notebook_follows_the_house_rules(path: Path) -> None:
    assert problems(path) == []


def test_there_are_solution_notebooks() -> None:
    assert SOLUTIONS, "solutions/ is empty"
