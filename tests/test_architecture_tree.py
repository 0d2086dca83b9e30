"""docs/architecture.md's file tree names every exercise folder and every lessons package.

The tree is how a new contributor finds their way; a folder it does not name is one they will not
find. Adding an exercise or a lessons package fails here until the tree has a line for it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split("```")[1]


def test_the_tree_names_every_exercise_folder() -> None:
    folders = sorted(p.name for p in (ROOT / "asynclab" / "exercises").glob("ex*") if p.is_dir())
    assert folders, "no exercise folders found"
    named = set(re.findall(r"\bex\d\d_\w+", TREE))
    assert not set(folders) - named, f"docs/architecture.md's tree lacks {sorted(set(folders) - named)}"
    assert not named - set(folders), f"docs/architecture.md's tree names folders that are gone: {sorted(named - set(folders))}"


def test_the_tree_names_every_lessons_package() -> None:
    packages = sorted(p.name for p in (ROOT / "asynclab" / "lessons").iterdir() if (p / "__init__.py").exists())
    missing = [name for name in packages if f"lessons/{name}/" not in TREE]
    assert not missing, f"docs/architecture.md's tree lacks lessons packages {missing}"
