"""Grade every exercise cell of every notebook in --notebooks (default solutions/).

A learner grades their own work with `pytest exercises_tests --notebooks notebooks`.
`make test` also runs `--notebooks notebooks --expect fail`, proving that every starter fails
for the reason its lesson is about.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab.grading.registry import all_exercises, get_exercise
from asynclab.grading.runner import run_check
from asynclab.grading.submission import Submission, from_notebook


def _folder(config: pytest.Config) -> Path:
    return Path(config.getoption("--notebooks"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    folder = _folder(metafunc.config)
    if "graded" in metafunc.fixturenames:
        params = []
        for notebook in sorted(folder.glob("*.ipynb")):
            for ex_id, submission in from_notebook(notebook).items():
                params.append(pytest.param(submission, id=ex_id))
        metafunc.parametrize("graded", params)
    if "registered_id" in metafunc.fixturenames:
        numbers = {p.name[:2] for p in folder.glob("*.ipynb")}
        ids = [ex_id for ex_id, ex in all_exercises().items() if ex.notebook in numbers]
        metafunc.parametrize("registered_id", ids, ids=ids)


def test_exercise(graded: Submission, request: pytest.FixtureRequest) -> None:
    verdict = run_check(graded)
    if request.config.getoption("--expect") == "pass":
        assert verdict.ok, "\n" + verdict.render()
        return
    ex = get_exercise(graded.exercise_id)
    assert not verdict.ok, f"{graded.exercise_id}: the starter code PASSES its check:\n{verdict.render()}"
    assert verdict.reason == ex.starter_reason, (
        f"{graded.exercise_id}: the starter fails, but not for the reason the lesson is about "
        f"(expected reason {ex.starter_reason!r}):\n{verdict.render()}"
    )


def test_exercise_is_in_its_notebook(registered_id: str, request: pytest.FixtureRequest) -> None:
    folder = _folder(request.config)
    ex = get_exercise(registered_id)
    found = [nb for nb in folder.glob(f"{ex.notebook}_*.ipynb") if registered_id in from_notebook(nb)]
    assert found, f"{registered_id}: no cell starting with '# Exercise: {registered_id}' in {folder}/{ex.notebook}_*.ipynb"
