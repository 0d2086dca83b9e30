"""Turn notebook cells into a submission: the setup cells, then one exercise cell.

Two sources feed the same shape. pytest reads cells from .ipynb files (tags tell which
cell is which); a notebook's check cell reads the kernel's history, because what the learner
ran last is what they expect to be graded, saved or not.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from .layout import exercise_id_of_folder

T = TypeVar("T")

EXERCISE_RE = re.compile(r"^#\s*Exercise:\s*(?P<id>[0-9]{2}-[a-z0-9-]+)\s*$")
EXPECT_RE = re.compile(r"^#\s*expect:\s*(?P<what>[a-z0-9-]+)\s*$")
# A known answer whose second line is one of these keys is built from the solution, not read from
# the file: the solution with (module, statement) inserted at the top of every coroutine.
DERIVED_BLOCKING = {
    "# derived: the solution with time.sleep(0.2) at the top of each coroutine": ("time", "time.sleep(0.2)"),
    # A CPU-heavy library call made from the learner's line (the loop watch charges it to that
    # line). pprint is pure Python on every CPython the course supports, so the sampler sees its
    # frames under the learner's line all along; json would not do: its C encoder keeps the GIL
    # and starves the sampler, and from CPython 3.13 it also takes `indent` (Lib/json/encoder.py).
    # 250,000 ints: ~0.23 s of CPU on the 2-core machine the course is tested on (3.11 and 3.13
    # alike), above the watch's 0.1 s STALL. (400,000, ~0.37 s a call, made 06-task-registry's
    # check time out instead: its many spawned tasks each held the loop that long.)
    "# derived: the solution with pprint.pformat of 250,000 ints (~0.23 s of CPU) at the top of each coroutine":
        ("pprint", "pprint.pformat(list(range(250000)))"),
}
SETUP_PREFIX = "# Setup"


class Size(StrEnum):
    """How big a check's rounds are. Learners and solutions always get FULL.

    SMALL is for the course's own known answers (exercises_tests): a check whose heaviest round
    exists to expose a failure that shows long before the full size (a task per URL, a buffered
    stream) may run it smaller there. A check opts in with `sized(full=..., small=...)`.
    """

    FULL = "full"
    SMALL = "small"


_SIZE: ContextVar[Size] = ContextVar("asynclab_grading_size", default=Size.FULL)


def sized(*, full: T, small: T) -> T:
    """`full`, or `small` while a known answer is graded (see Size); read it inside the check."""
    return small if _SIZE.get() is Size.SMALL else full


@contextmanager
def grading_size(size: Size) -> Iterator[None]:
    """Run the checks in this block at `size` (the worker wraps one check in it)."""
    token = _SIZE.set(size)
    try:
        yield
    finally:
        _SIZE.reset(token)


@dataclass(frozen=True)
class Submission:
    """What a check runs: setup code, then the learner's exercise cell."""

    exercise_id: str
    setup: str
    cell: str
    origin: str  # where it came from, for messages ("notebooks/03_semaphores.ipynb", "kernel")
    size: Size = Size.FULL  # SMALL only for the course's known answers

    @property
    def source(self) -> str:
        return self.setup + ("\n\n" if self.setup else "") + self.cell

    @property
    def cell_offset(self) -> int:
        """Line number (0-based) in `source` where the exercise cell begins."""
        return self.source.count("\n") - self.cell.count("\n")


def exercise_id_of(source: str) -> str | None:
    """The id in a cell's first line `# Exercise: <id>`, or None."""
    first = source.lstrip("\n").split("\n", 1)[0]
    match = EXERCISE_RE.match(first.strip())
    return match.group("id") if match else None


def _cell_source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def read_notebook(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def from_notebook(path: str | Path) -> dict[str, Submission]:
    """Every exercise in a notebook file, by id."""
    nb = read_notebook(path)
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    setup = "\n\n".join(_cell_source(c) for c in code if "setup" in _tags(c))
    found: dict[str, Submission] = {}
    for cell in code:
        if "exercise" not in _tags(cell):
            continue
        source = _cell_source(cell)
        ex_id = exercise_id_of(source)
        if ex_id is None:
            raise ValueError(f"{path}: a cell tagged 'exercise' must start with '# Exercise: <id>'")
        found[ex_id] = Submission(ex_id, setup, source, origin=str(path))
    return found


def setup_of_notebook(path: str | Path) -> str:
    """The setup cells of a notebook, for grading code that was not written in it."""
    nb = read_notebook(path)
    return "\n\n".join(
        _cell_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code" and "setup" in _tags(c)
    )


def from_history(exercise_id: str, history: list[str]) -> Submission | None:
    """The latest run of the exercise cell, with the latest run of every setup cell before it.

    Setup cells are told apart by their first line (`# Setup: imports`, `# Setup: schema`, ...),
    so re-running one replaces its earlier version instead of doubling it.
    """
    cell = None
    for source in reversed(history):
        if exercise_id_of(source) == exercise_id:
            cell = source
            break
    if cell is None:
        return None
    setups: dict[str, str] = {}
    for source in history:
        first = source.lstrip("\n").split("\n", 1)[0].strip()
        if first.startswith(SETUP_PREFIX):
            setups[first] = source  # later runs win, first-seen order is kept
    return Submission(exercise_id, "\n\n".join(setups.values()), cell, origin="kernel")


def known_answer(path: str | Path, solutions: str | Path) -> tuple[Submission, str]:
    """A known answer (asynclab/exercises/<folder>/answers/<name>.py or .edit) as a submission,
    and what it must get: "pass" or a failure reason, from its first line `# expect: ...`. The
    setup cells come from the exercise's notebook in `solutions`."""
    path = Path(path)
    ex_id = exercise_id_of_folder(path.parent.parent)
    source = path.read_text(encoding="utf-8")
    header, _, rest = source.partition("\n")
    match = EXPECT_RE.match(header.strip())
    if match is None:
        raise ValueError(f"{path}: first line must be '# expect: pass' or '# expect: <reason>'")
    notebooks = sorted(Path(solutions).glob(f"{ex_id[:2]}_*.ipynb"))
    if not notebooks:
        raise ValueError(f"no solution notebook for {ex_id} in {solutions}")
    if rest.strip() in DERIVED_BLOCKING:
        cell = blocking_variant(from_notebook(notebooks[0])[ex_id].cell, *DERIVED_BLOCKING[rest.strip()])
    elif path.suffix == ".edit":
        cell = apply_edit(from_notebook(notebooks[0])[ex_id].cell, rest, where=str(path))
    else:
        cell = f"# Exercise: {ex_id}\n" + rest
    return Submission(ex_id, setup_of_notebook(notebooks[0]), cell, origin=str(path)), match.group("what")


EDIT_RE = re.compile(r"^<<<<<<< solution\n(?P<old>.*?)^=======\n(?P<new>.*?)^>>>>>>> answer$", re.MULTILINE | re.DOTALL)


def apply_edit(cell: str, edit: str, *, where: str = "edit") -> str:
    """The solution's cell with each block of `edit` applied.

    A known wrong answer that is a small change to the solution is written as that change, so
    its file shows the mistake in a few lines and cannot drift from the solution: every block's
    `<<<<<<< solution` side must occur exactly once in the cell, or this raises and names it.
    """
    blocks = list(EDIT_RE.finditer(edit))
    if not blocks:
        raise ValueError(f"{where}: no '<<<<<<< solution' / '=======' / '>>>>>>> answer' block")
    for block in blocks:
        old, new = block.group("old"), block.group("new")
        count = cell.count(old)
        if count != 1:
            first = old.strip().splitlines()[0] if old.strip() else "(empty)"
            raise ValueError(f"{where}: the solution side of a block occurs {count} times in the solution "
                             f"cell (it must occur once); it starts {first!r}")
        cell = cell.replace(old, new)
    return cell


def blocking_variant(cell: str, module: str = "time", statement: str = "time.sleep(0.2)") -> str:
    """The cell with `statement` (importing `module`) first in every coroutine it defines.

    Built from the solution each time, so these known wrong answers never drift from it: every
    check must fail them with `loop-blocked` (a course whose first lesson is "never block the
    loop" must not pass code that blocks it, with a sleep or with a heavy library call).
    """
    header = cell.splitlines()[0]
    tree = ast.parse(cell)
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            node.body.insert(0, ast.parse(statement).body[0])
    tree.body.insert(0, ast.Import(names=[ast.alias(module)]))
    return header + "\n" + ast.unparse(ast.fix_missing_locations(tree)) + "\n"
