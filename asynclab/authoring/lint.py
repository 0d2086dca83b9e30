"""House rules for solution notebooks, checked by tests/test_notebook_rules.py.

Each rule exists because breaking it cost someone time: a first cell with `await` hangs nbval
on an ExceptionGroup (docs/authoring.md), an exercise cell without its check cell leaves the
learner without a verdict, a machine path in an output leaks the author's home.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..grading.registry import all_exercises
from ..grading.submission import SETUP_PREFIX, exercise_id_of
from .generate import AuthoringError, starter_source

MACHINE_PATH = re.compile(r"/(work|tmp|root|home|Users)/")
TOP_LEVEL_AWAIT = re.compile(r"^(async with|async for|await )", re.MULTILINE)


def _src(cell: dict[str, Any]) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def problems(path: str | Path) -> list[str]:
    """Every rule the solution notebook at `path` breaks, as readable lines."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = nb.get("cells", [])
    code = [c for c in cells if c.get("cell_type") == "code"]
    markdown = [c for c in cells if c.get("cell_type") == "markdown"]
    out: list[str] = []
    name = Path(path).name

    if code and TOP_LEVEL_AWAIT.search(_src(code[0])):
        out.append(f"{name}: the first code cell must be synchronous (ExceptionGroup hang trap)")
    if not markdown or not all(w in _src(markdown[0]).lower() for w in ("objectives", "minutes")):
        out.append(f"{name}: the first markdown cell needs objectives and teaching/exercise minutes")
    if not markdown or "key points" not in _src(markdown[-1]).lower():
        out.append(f"{name}: the last markdown cell needs the key points")

    registered = all_exercises()
    number = name[:2]
    seen: list[str] = []
    for i, cell in enumerate(code):
        src = _src(cell)
        tags = cell.get("metadata", {}).get("tags", [])
        if "setup" in tags and not src.startswith(SETUP_PREFIX):
            out.append(f"{name}: setup cell {i} must start with '{SETUP_PREFIX}: <what>'")
        if "setup" in tags and TOP_LEVEL_AWAIT.search(src):
            out.append(f"{name}: setup cell {i} must be synchronous")
        if MACHINE_PATH.search(json.dumps(cell.get("outputs", []))):
            out.append(f"{name}: code cell {i} output contains a machine path")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                out.append(f"{name}: code cell {i} has a saved error output; catch and assert instead")
        if "exercise" not in tags:
            continue
        ex_id = exercise_id_of(src)
        if ex_id is None:
            out.append(f"{name}: exercise cell {i} must start with '# Exercise: <id>'")
            continue
        seen.append(ex_id)
        if ex_id not in registered:
            out.append(f"{name}: exercise {ex_id} has no check (asynclab/exercises/<folder>/check.py)")
        if TOP_LEVEL_AWAIT.search(src):
            out.append(f"{name}: exercise cell {ex_id} uses top-level await")
        try:
            starter_source(src, f"{name} {ex_id}")
        except AuthoringError as exc:
            out.append(str(exc))
        following = _src(code[i + 1]) if i + 1 < len(code) else ""
        if f'check("{ex_id}")' not in following:
            out.append(f"{name}: the cell after exercise {ex_id} must run check(\"{ex_id}\")")
    for ex_id, ex in registered.items():
        if ex.notebook == number and ex_id not in seen:
            out.append(f"{name}: exercise {ex_id} is registered but has no exercise cell")
    return out
