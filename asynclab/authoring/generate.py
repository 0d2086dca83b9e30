"""Generate the learner notebooks from the solution notebooks.

`python -m asynclab.authoring.generate` writes notebooks/; with `--check` it writes nothing and
exits 1 if notebooks/ differs from what it would write (make test runs that).

In an exercise cell, the region between `### BEGIN SOLUTION` and `### END SOLUTION` is
replaced by the commented-out region between `### BEGIN STARTER` and `### END STARTER`,
uncommented: the learner starts from the broken code the lesson is about.

`preview_notebook` is the variant the course website shows (asynclab.book): the demo outputs of
a real run stay, so a reader sees the plots and meters without a kernel, while exercise cells
show the starter and the outputs of exercise, check and hint cells are dropped (they would give
the solutions' verdicts away).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_STARTER = "### BEGIN STARTER"
END_STARTER = "### END STARTER"
DROP_TAG = "solution-only"
GRADING_CALLS = ("check(", "hint(")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class AuthoringError(ValueError):
    """A solution notebook breaks the authoring conventions."""


def _uncomment(line: str) -> str:
    stripped = line.lstrip(" ")
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("# "):
        return indent + stripped[2:]
    if stripped.startswith("#"):
        return indent + stripped[1:]
    return line


def starter_source(source: str, where: str = "cell") -> str:
    """The learner's version of an exercise cell's source."""
    out: list[str] = []
    starter: list[str] = []
    mode = "keep"
    solution_at = None
    for line in source.split("\n"):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if mode != "keep":
                raise AuthoringError(f"{where}: {BEGIN_SOLUTION} inside another region")
            mode, solution_at = "solution", len(out)
        elif marker == END_SOLUTION:
            if mode != "solution":
                raise AuthoringError(f"{where}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            mode = "keep"
        elif marker == BEGIN_STARTER:
            if mode != "keep":
                raise AuthoringError(f"{where}: {BEGIN_STARTER} inside another region")
            mode = "starter"
        elif marker == END_STARTER:
            if mode != "starter":
                raise AuthoringError(f"{where}: {END_STARTER} without {BEGIN_STARTER}")
            mode = "keep"
        elif mode == "keep":
            out.append(line)
        elif mode == "starter":
            starter.append(_uncomment(line))
    if mode != "keep":
        raise AuthoringError(f"{where}: a region is not closed")
    if solution_at is None or not starter:
        raise AuthoringError(f"{where}: an exercise cell needs a SOLUTION region and a STARTER region")
    out[solution_at:solution_at] = starter
    return "\n".join(out).rstrip("\n")


def _variant(solution: Any, where: str, outputs_of: Callable[[Any, list[str]], list[Any]]) -> Any:
    """A copy of a solution notebook with starters in the exercise cells and the outputs chosen by `outputs_of`."""
    nb = copy.deepcopy(solution)
    nb.metadata.pop("widgets", None)
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if DROP_TAG in tags:
            continue
        if cell.cell_type == "code":
            if "exercise" in tags:
                cell.source = starter_source(cell.source, f"{where} cell {index}")
            cell.outputs = outputs_of(cell, tags)
            if not cell.outputs:
                cell.execution_count = None
            for key in ("execution", "collapsed", "scrolled"):
                cell.metadata.pop(key, None)
        cells.append(cell)
    nb.cells = cells
    return nb


def learner_notebook(solution: Any, where: str = "notebook") -> Any:
    """A learner notebook node made from a solution notebook node (nbformat)."""
    return _variant(solution, where, lambda cell, tags: [])


def _demo_outputs(cell: Any, tags: list[str]) -> list[Any]:
    """A demo cell's outputs without live widgets: with no kernel a widget renders as nothing, and
    its text/plain is only its repr (`HBox(children=...)`); the meter's summary line is an output
    of its own and stays. Exercise, check and hint cells show nothing: that would give verdicts away.
    """
    if "exercise" in tags or cell.source.lstrip().startswith(GRADING_CALLS):
        return []
    return [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]


def preview_notebook(solution: Any, where: str = "notebook") -> Any:
    """The website's read-only notebook: demo outputs kept, exercises as starters, no verdicts."""
    return _variant(solution, where, _demo_outputs)


def generate(solutions: Path, notebooks: Path, check_only: bool = False) -> list[str]:
    """Write (or compare) every learner notebook. Returns the problems found."""
    import nbformat  # here, not at the top: it takes seconds to import, and starter_source needs none of it

    problems: list[str] = []
    wanted = set()
    for src in sorted(solutions.glob("*.ipynb")):
        wanted.add(src.name)
        solution = nbformat.read(src, as_version=4)
        text = nbformat.writes(learner_notebook(solution, str(src))) + "\n"
        dest = notebooks / src.name
        current = dest.read_text(encoding="utf-8") if dest.exists() else None
        if current == text:
            continue
        if check_only:
            problems.append(f"{dest} is {'missing' if current is None else 'out of date'}: run `make notebooks`")
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
    for extra in sorted(notebooks.glob("*.ipynb")):
        if extra.name not in wanted:
            problems.append(f"{extra} has no source in {solutions}/: delete it or add the solution")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when notebooks/ is stale")
    args = parser.parse_args(argv)
    try:
        problems = generate(args.solutions, args.notebooks, check_only=args.check)
    except AuthoringError as exc:
        print(f"authoring error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{args.notebooks}/ matches {args.solutions}/" if args.check else f"wrote {args.notebooks}/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
