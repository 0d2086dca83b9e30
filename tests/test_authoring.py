"""The notebook generator: solutions in, learner notebooks out."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from asynclab.authoring.generate import AuthoringError, generate, learner_notebook, starter_source

CELL = """# Exercise: 00-warm-up
import asyncio
import time
### BEGIN SOLUTION
async def pause(seconds):
    await asyncio.sleep(seconds)
    return "done"
### END SOLUTION
### BEGIN STARTER
# async def pause(seconds):
#     time.sleep(seconds)  # TODO: this blocks the loop
#     return "done"
### END STARTER
"""


def test_starter_replaces_solution_in_place() -> None:
    out = starter_source(CELL)
    assert "await asyncio.sleep" not in out
    assert "    time.sleep(seconds)  # TODO: this blocks the loop" in out
    assert "###" not in out
    assert out.startswith("# Exercise: 00-warm-up\nimport asyncio\nimport time\nasync def pause")


@pytest.mark.parametrize(
    "broken",
    [
        CELL.replace("### END SOLUTION\n", ""),
        CELL.replace("### BEGIN STARTER\n", ""),
        "# Exercise: 00-warm-up\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
    ],
    ids=["unclosed-solution", "starter-without-begin", "no-starter"],
)
def test_broken_markers_are_errors(broken: str) -> None:
    with pytest.raises(AuthoringError):
        starter_source(broken)


def _solution_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"state": {}}
    first = nbformat.v4.new_code_cell("import asynclab", execution_count=1)
    first.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    ex = nbformat.v4.new_code_cell(CELL, execution_count=2)
    ex.metadata["tags"] = ["exercise"]
    hidden = nbformat.v4.new_code_cell("print('author only')")
    hidden.metadata["tags"] = ["solution-only"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), first, ex, hidden]
    return nb


def test_learner_notebook_has_no_outputs_and_keeps_tags() -> None:
    learner = learner_notebook(_solution_notebook())
    code = [c for c in learner.cells if c.cell_type == "code"]
    assert len(code) == 2, "solution-only cells are dropped"
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[1].metadata["tags"] == ["exercise"]
    assert "widgets" not in learner.metadata


def test_generate_check_mode_detects_stale_and_extra(tmp_path: Path) -> None:
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    nbformat.write(_solution_notebook(), solutions / "00_x.ipynb")
    assert generate(solutions, notebooks, check_only=True) == [f"{notebooks / '00_x.ipynb'} is missing: run `make notebooks`"]
    assert generate(solutions, notebooks) == []
    assert generate(solutions, notebooks, check_only=True) == []
    (notebooks / "99_stray.ipynb").write_text("{}")
    assert any("99_stray" in p for p in generate(solutions, notebooks, check_only=True))
