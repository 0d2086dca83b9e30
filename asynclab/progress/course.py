"""Where each exercise lives in a folder of notebooks, and what the learner wrote in it.

Reading is forgiving on purpose: a learner's notebook may be half-saved JSON or have lost an
exercise cell's first line. Each such problem becomes one sentence in `Found.problems`, and
every other exercise is still found, so progress is reported for the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..authoring.generate import AuthoringError, starter_source
from ..grading.submission import Submission, exercise_id_of

HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Place:
    """One exercise cell: the notebook it is in and the heading of its section."""

    exercise_id: str
    notebook: str  # file name, "03_semaphores.ipynb"
    section: str
    submission: Submission | None  # None when the cell could not be read


@dataclass
class Found:
    """Every exercise cell found in a folder, in course order, and the problems met on the way."""

    places: list[Place] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # exercise id -> one sentence

    def place(self, exercise_id: str) -> Place | None:
        return next((p for p in self.places if p.exercise_id == exercise_id), None)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _heading(markdown: str) -> str | None:
    last = None
    for line in markdown.splitlines():
        match = HEADING.match(line.strip())
        if match:
            last = match.group("title").strip("* ")
    return last


def _read(path: Path) -> tuple[list[dict[str, Any]] | None, str]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return None, f"{path} is not valid JSON (line {exc.lineno}): restore it from your editor's history or re-download it"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path} cannot be read: {exc}"
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return None, f"{path} is JSON but not a notebook (no list of cells)"
    return [c for c in cells if isinstance(c, dict)], ""


def find_exercises(folder: Path, registered: dict[str, str]) -> Found:
    """The exercise cells of every notebook in `folder`.

    `registered` maps each known exercise id to its two-digit notebook number; it names the
    exercise whose cell lost its first line, and the exercises of an unreadable notebook.
    """
    found = Found()
    for path in sorted(folder.glob("*.ipynb")):
        number = path.name[:2]
        expected = [ex_id for ex_id, nb in registered.items() if nb == number]
        cells, problem = _read(path)
        if cells is None:
            for ex_id in expected:
                found.problems[ex_id] = problem
            continue
        code = [c for c in cells if c.get("cell_type") == "code"]
        setup = "\n\n".join(_source(c) for c in code if "setup" in _tags(c))
        section = path.stem
        nameless = 0
        for cell in cells:
            if cell.get("cell_type") == "markdown":
                section = _heading(_source(cell)) or section  # a markdown cell without a heading keeps it
                continue
            if cell.get("cell_type") != "code" or "exercise" not in _tags(cell):
                continue
            source = _source(cell)
            cell_id = exercise_id_of(source)
            if cell_id is None:
                nameless += 1
                continue
            place = Place(cell_id, path.name, section, Submission(cell_id, setup, source, origin=str(path)))
            # A copied exercise cell: the last one counts, as in `pytest exercises_tests`.
            found.places = [p for p in found.places if p.exercise_id != cell_id] + [place]
        if nameless:
            missing = [ex_id for ex_id in expected if found.place(ex_id) is None]
            for ex_id in missing:
                found.problems[ex_id] = (
                    f"{path}: an exercise cell lost its first line; put '# Exercise: {ex_id}' back on top of it")
    return found


def starters(solutions: Path) -> dict[str, str]:
    """The starter source of every exercise, as `make notebooks` writes it, by exercise id."""
    out: dict[str, str] = {}
    for path in sorted(solutions.glob("*.ipynb")):
        cells, _ = _read(path)
        for cell in cells or []:
            if cell.get("cell_type") == "code" and "exercise" in _tags(cell):
                source = _source(cell)
                ex_id = exercise_id_of(source)
                if ex_id:
                    try:
                        out[ex_id] = starter_source(source, str(path))
                    except AuthoringError:
                        continue
    return out


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def is_untouched(cell: str, starter: str | None) -> bool:
    """True when the learner has not changed the generated starter (whitespace aside)."""
    return starter is not None and _normal(cell) == _normal(starter)
