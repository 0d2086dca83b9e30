"""Load an exercise of a solution notebook as a module: the fix, or the broken starter.

    fixed = load_variant("03", "03-bounded-fetch", "fixed")     # the SOLUTION region
    broken = load_variant("03", "03-bounded-fetch", "broken")   # the STARTER, as learners get it
    await fixed.fetch_all(client, urls, 50)

The benchmarks measure the notebooks' own code, never a copy: the module is the notebook's
`setup`-tagged cells followed by the exercise cell (the same submission shape the graders
run, `asynclab.grading.submission`), and for `broken` the cell is what `make notebooks` gives
learners (`asynclab.authoring.generate.starter_source`). The module is a real file on
`sys.path` under its own name, so a process pool can pickle the functions it defines.
"""

from __future__ import annotations

import atexit
import importlib.util
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ..authoring.generate import starter_source
from ..grading.submission import Submission, from_notebook

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"
LOADABLE = ("fixed", "broken")

_folder: Path | None = None


class NotAvailable(LookupError):
    """The notebook or exercise is not there (yet): its rows are skipped, never faked."""


def notebook_path(notebook: str | Path, root: Path = SOLUTIONS) -> Path:
    """`"03"`, `"03_semaphores"` or a path -> the solution notebook's file."""
    given = Path(notebook)
    if given.suffix == ".ipynb":
        if given.exists():
            return given
        raise NotAvailable(f"not available: {given} missing")
    prefix = str(notebook)
    found = sorted(root.glob(f"{prefix}*.ipynb")) if re.fullmatch(r"[0-9]{2}(_[a-z0-9_]+)?", prefix) else []
    if not found:
        raise NotAvailable(f"not available: {_shown(root)}/{prefix} missing")
    return found[0]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def submission(notebook: str | Path, exercise_id: str, root: Path = SOLUTIONS) -> Submission:
    path = notebook_path(notebook, root)
    exercises = from_notebook(path)
    if exercise_id not in exercises:
        raise NotAvailable(f"not available: no exercise {exercise_id} in {_shown(path)}")
    return exercises[exercise_id]


def variant_source(notebook: str | Path, exercise_id: str, variant: str, root: Path = SOLUTIONS) -> str:
    """The module source: setup cells, then the exercise cell as fixed or as the broken starter."""
    if variant not in LOADABLE:
        raise ValueError(f"variant must be one of {LOADABLE} (a baseline is written in the bench), got {variant!r}")
    sub = submission(notebook, exercise_id, root)
    cell = sub.cell if variant == "fixed" else starter_source(sub.cell, where=f"{sub.origin}: {exercise_id}")
    return (sub.setup + "\n\n" if sub.setup else "") + cell + "\n"


def module_name(exercise_id: str, variant: str) -> str:
    return f"asynclab_bench_{exercise_id.replace('-', '_')}_{variant}"


def load_variant(notebook: str | Path, exercise_id: str, variant: str, root: Path = SOLUTIONS) -> ModuleType:
    """Import one variant of an exercise as a fresh module (see the module docstring)."""
    source = variant_source(notebook, exercise_id, variant, root)
    name = module_name(exercise_id, variant)
    path = _modules_folder() / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_pair(notebook: str | Path, exercise_id: str, root: Path = SOLUTIONS) -> dict[str, ModuleType]:
    """Both variants every row family compares, `{"fixed": ..., "broken": ...}`; NotAvailable if missing."""
    return {variant: load_variant(notebook, exercise_id, variant, root) for variant in LOADABLE}


def _modules_folder() -> Path:
    """One temporary folder per process, on sys.path, removed at exit."""
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="asynclab-bench-"))
        sys.path.insert(0, str(_folder))
        atexit.register(shutil.rmtree, _folder, ignore_errors=True)
    return _folder
