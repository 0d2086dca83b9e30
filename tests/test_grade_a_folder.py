"""`pytest exercises_tests --notebooks DIR` grades any folder of notebooks: one test per exercise,
named by its id, and exit status 1 when one fails. Graders outside this repository rely on it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "00_welcome.ipynb"  # the smallest: one exercise


def _grade(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-rA",
                           "exercises_tests", "--notebooks", str(folder)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_folder_is_graded_one_test_per_exercise_and_a_failure_exits_1(tmp_path: Path) -> None:
    solved, learner = tmp_path / "solved", tmp_path / "learner"
    solved.mkdir()
    shutil.copy(ROOT / "solutions" / NOTEBOOK, solved / NOTEBOOK)
    made = subprocess.run([sys.executable, "-m", "asynclab.authoring.generate", "--solutions", str(solved),
                           "--notebooks", str(learner)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr

    right = _grade(solved)
    assert right.returncode == 0, right.stdout[-3000:]
    assert "PASSED exercises_tests/test_exercises.py::test_exercise[00-warm-up]" in right.stdout

    starter = _grade(learner)
    assert starter.returncode == 1, starter.stdout[-3000:]
    assert "FAILED exercises_tests/test_exercises.py::test_exercise[00-warm-up]" in starter.stdout
