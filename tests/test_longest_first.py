"""asynclab.tools.pytest_longest_first: the longest files start first, tests keep their order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asynclab.tools.pytest_longest_first import file_order

FILES = ["a.py", "b.py", "c.py", "d.py"]


def test_measured_seconds_win_when_every_file_has_them() -> None:
    assert file_order(FILES, {"a.py": 1, "b.py": 50, "c.py": 3, "d.py": 20}, ["a.py"]) == ["b.py", "d.py", "c.py", "a.py"]


def test_the_listed_order_until_every_file_is_measured() -> None:
    assert file_order(FILES, {"b.py": 50}, ["d.py", "c.py"]) == ["d.py", "c.py", "a.py", "b.py"]
    assert file_order(FILES, {}, []) == FILES


@pytest.mark.slow  # a pytest of its own: a few seconds
def test_collection_follows_the_list_and_keeps_each_files_tests_in_order(tmp_path: Path) -> None:
    for name in ("test_short.py", "test_long.py"):
        (tmp_path / name).write_text("def test_1(): pass\n\ndef test_2(): pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nlongest_first =\n    test_long.py\n")
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "asynclab.tools.pytest_longest_first",
               "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:nbval"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    ids = [line for line in run.stdout.splitlines() if "::" in line]
    assert ids == ["test_long.py::test_1", "test_long.py::test_2", "test_short.py::test_1", "test_short.py::test_2"], run.stdout


@pytest.mark.slow  # two pytests of their own: a few seconds
def test_measured_tests_reorder_the_next_run_and_a_partial_run_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "test_quick.py").write_text("def test_1(): pass\n")
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_1(): time.sleep(0.3)\n\ndef test_2(): pass\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "asynclab.tools.pytest_longest_first", "-p", "no:randomly",
               "-p", "no:nbval"]  # not needed here, and its import is most of a bare pytest's start-up
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stdout
    partial = subprocess.run([*command, "-k", "test_2"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert partial.returncode == 0, partial.stdout
    listed = subprocess.run([*command, "--collect-only"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    ids = [line for line in listed.stdout.splitlines() if "::" in line]
    assert ids == ["test_slow.py::test_1", "test_slow.py::test_2", "test_quick.py::test_1"], listed.stdout
