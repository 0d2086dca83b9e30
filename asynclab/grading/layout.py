"""Where each exercise's files live: asynclab/exercises/<folder>/ (see that package's docstring).
Path arithmetic only, so grading can find checks and known answers without importing them.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent / "exercises"
ANSWER_SUFFIXES = (".py", ".edit")

def folder_name(exercise_id: str) -> str:
    """ "03-stream-workers" -> "ex03_stream_workers": a package name that sorts like the id."""
    return "ex" + exercise_id.replace("-", "_")

def exercise_id_of_folder(folder: Path) -> str:
    """The inverse of folder_name: "ex03_stream_workers" -> "03-stream-workers"."""
    if not folder.name.startswith("ex"):
        raise ValueError(f"{folder}: an exercise folder is named ex<id with _ for ->")
    return folder.name[2:].replace("_", "-")

def folders() -> list[Path]:
    """Every exercise folder, in id order."""
    return sorted(p for p in ROOT.iterdir() if p.is_dir() and p.name.startswith("ex"))

def folder_of(exercise_id: str) -> Path:
    return ROOT / folder_name(exercise_id)

def answer_files() -> list[Path]:
    """Every known answer of every exercise, in id order then name order."""
    return [p for folder in folders() for p in sorted((folder / "answers").glob("*"))
            if p.suffix in ANSWER_SUFFIXES]
