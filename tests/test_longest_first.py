"""asynclab.tools.pytest_longest_first: the longest files start first, each kept together; inside a
file, tests keep their order, or under --dist load go longest first."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from asynclab.grading.layout import answer_files, exercise_id_of_folder
from asynclab.tools.pytest_longest_first import file_order, order_tests

ROOT = Path(__file__).parent.parent

FILES = ["a.py", "b.py", "c.py", "d.py"]


def test_measured_seconds_win_when_every_file_has_them() -> None:
    assert file_order(FILES, {"a.py": 1, "b.py": 50, "c.py": 3, "d.py": 20}, ["a.py"]) == ["b.py", "d.py", "c.py", "a.py"]


def test_the_listed_order_until_every_file_is_measured() -> None:
    assert file_order(FILES, {"b.py": 50}, ["d.py", "c.py"]) == ["d.py", "c.py", "a.py", "b.py"]
    assert file_order(FILES, {}, []) == FILES


def test_a_files_tests_go_by_measured_seconds_when_every_test_has_them() -> None:
    ids = ["a.py::t1", "a.py::t2", "a.py::t3"]
    assert order_tests(ids, {"a.py::t1": 1, "a.py::t2": 9, "a.py::t3": 3}, []) == ["a.py::t2", "a.py::t3", "a.py::t1"]


def test_a_files_tests_go_listed_ids_first_then_as_collected() -> None:
    ids = ["a.py::t1", "a.py::t2", "a.py::t3", "a.py::t4"]
    assert order_tests(ids, {"a.py::t1": 1}, ["a.py::t3", "b.py", "a.py::t2"]) == ["a.py::t3", "a.py::t2", "a.py::t1",
                                                                                  "a.py::t4"]


def test_every_listed_entry_names_a_file_and_a_test_that_exist() -> None:
    """A renamed test would silently drop out of the list; a fresh clone would then start it late."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["longest_first"]
    answers = {f"{exercise_id_of_folder(p.parent.parent)}/{p.stem}" for p in answer_files()}
    for entry in listed:
        file, _, test = entry.partition("::")
        assert (ROOT / file).is_file(), entry
        if not test:
            continue
        name, _, param = test.partition("[")
        assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), re.MULTILINE), entry
        if name == "test_known_answer":
            assert param.rstrip("]") in answers, entry


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
def test_under_dist_load_a_files_listed_tests_go_first_and_files_stay_together(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("def test_1(): pass\n\ndef test_2(): pass\n\ndef test_3(): pass\n")
    (tmp_path / "test_b.py").write_text("def test_1(): pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nlongest_first =\n    test_b.py\n    test_a.py::test_3\n")
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "asynclab.tools.pytest_longest_first",
               "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:nbval"]
    for dist, want in [("load", ["test_b.py::test_1", "test_a.py::test_3", "test_a.py::test_1", "test_a.py::test_2"]),
                       ("loadfile", ["test_b.py::test_1", "test_a.py::test_1", "test_a.py::test_2", "test_a.py::test_3"])]:
        run = subprocess.run([*command, "--dist", dist], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert [line for line in run.stdout.splitlines() if "::" in line] == want, (dist, run.stdout)


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
