"""The website's pages, without building it: preview notebooks, launch links, link rewriting.

tests_browser/test_book.py opens the built site; these fast tests pin what goes into it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from asynclab.authoring.generate import BEGIN_SOLUTION, WIDGET_VIEW, learner_notebook, preview_notebook
from asynclab.book.launch import binder_url, jupyterhub_url, launch_html, read_readme
from asynclab.book.pages import rewrite_links, syllabus_page

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
README = read_readme(ROOT / "README.md")


def _is_grading_call(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(("check(", "hint("))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_preview_keeps_demo_outputs_and_shows_starters_without_verdicts(path: Path) -> None:
    solution = nbformat.read(path, as_version=4)
    preview, learner = preview_notebook(solution), learner_notebook(solution)
    assert [c.source for c in preview.cells] == [c.source for c in learner.cells], "exercise cells must be the starters"
    assert not any(BEGIN_SOLUTION in c.source for c in preview.cells)
    for cell in preview.cells:
        if cell.cell_type == "code" and ("exercise" in cell.metadata.get("tags", []) or _is_grading_call(cell)):
            assert cell.outputs == [], f"{path.name}: outputs of {cell.source[:40]!r} give the verdict away"
        for output in cell.get("outputs", []):
            assert WIDGET_VIEW not in output.get("data", {}), "a widget view renders as nothing without a kernel"
    kept = [o for c in preview.cells if c.cell_type == "code" for o in c.outputs]
    demos = [o for c in solution.cells if c.cell_type == "code" and not _is_grading_call(c)
             and not {"exercise", "solution-only"} & set(c.metadata.get("tags", []))
             for o in c.outputs if WIDGET_VIEW not in o.get("data", {})]
    assert kept and len(kept) == len(demos), "every demo output of the recorded run stays"


def test_launch_links_come_from_the_readme() -> None:
    text = (ROOT / "README.md").read_text()
    badge = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", text).group(0)  # type: ignore[union-attr]
    assert binder_url(README, "notebooks/00_welcome.ipynb") == badge
    hub = jupyterhub_url(README, "notebooks/03_semaphores.ipynb", "https://hub.example.edu/")
    assert hub.startswith("https://hub.example.edu/hub/user-redirect/git-pull?repo=https%3A//github.com/")
    assert hub.endswith(f"urlpath=lab/tree/{README.repo}/notebooks/03_semaphores.ipynb")
    assert README.commands == ("git clone <this repository> && cd <its folder>", "make lab")
    assert "&lt;this repository&gt;" in launch_html(README, "notebooks/00_welcome.ipynb")


def test_links_to_files_off_the_site_point_into_the_repository() -> None:
    on_site = {"docs/instructor.md", "docs/bench.md"}
    text = "[guide](instructor.md#agendas) [notes](instructor-notes/) [up](../README.md) ![m](img/meter-healthy.png) [w](https://x.org)"
    out = rewrite_links(text, "docs/bench.md", on_site, README)
    assert "[guide](instructor.md#agendas)" in out and "![m](img/meter-healthy.png)" in out and "(https://x.org)" in out
    assert f"[notes]({README.repository}/tree/{README.ref}/docs/instructor-notes)" in out
    assert f"[up]({README.repository}/blob/{README.ref}/README.md)" in out


def test_syllabus_links_every_notebook() -> None:
    names = [p.name for p in SOLUTIONS]
    page = syllabus_page((ROOT / "README.md").read_text(), names)
    assert all(f"](notebooks/{name})" in page for name in names)
