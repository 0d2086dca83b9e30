"""Every exercise's last hint ("almost the code") passes its check when completed the obvious way.

tests/hint_completions/<exercise-id>.py is the starter cell with the last hint filled in, as a
learner who follows it would write it. Two checks per exercise:
- the completion really is the hint: every code line of the hint (indented lines and the lines
  of a code-only hint) is a line of the completion, and every `code` snippet of a prose hint is
  in it (spaces and `;` aside, `...` standing for anything), unless the completion lists it on
  a line `# hint names, not code: <snippet> | <snippet>` (what the hint says to replace, or a
  signature written loosely);
- the real grader, with the solution notebook's setup cells, passes it.
A hint that drops something the check needs (a parameter, a release) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asynclab.grading.registry import all_exercises, get_exercise
from asynclab.grading.runner import run_check
from asynclab.grading.submission import Submission, setup_of_notebook

HERE = Path(__file__).parent / "hint_completions"
SOLUTIONS = Path(__file__).parent.parent / "solutions"
IDS = sorted(all_exercises())


@pytest.fixture(scope="module", autouse=True)
def lab_env() -> object:
    """One lab for the module; graders reuse it through the ASYNCLAB_* variables it exports."""
    from asynclab.lab import start_sync, stop_sync

    start_sync()
    yield
    stop_sync()


def _squeeze(text: str) -> str:
    return re.sub(r"[\s;]+", "", text)


def _code_lines(hint: str) -> list[str]:
    """The code lines of a hint: the indented lines after "Almost ...:", none in a prose hint with
    `snippets`, every line of a hint that is code only."""
    lines = hint.split("\n")
    if lines[0].startswith("Almost"):
        code = [ln for ln in lines[1:] if ln.startswith("    ")]
    elif "`" in hint:
        code = []
    else:
        code = lines
    return [ln.split("  #")[0].strip() for ln in code if ln.strip()]


def test_every_exercise_has_a_completion() -> None:
    assert sorted(p.stem for p in HERE.glob("*.py")) == IDS


@pytest.mark.parametrize("exercise_id", IDS)
def test_completion_follows_the_last_hint(exercise_id: str) -> None:
    hint = get_exercise(exercise_id).hints[-1]
    source = (HERE / f"{exercise_id}.py").read_text(encoding="utf-8")
    assert source.startswith(f"# Exercise: {exercise_id}\n")
    lines = {ln.split("  #")[0].strip() for ln in source.split("\n")}
    missing = [ln for ln in _code_lines(hint) if ln not in lines]
    assert not missing, f"{exercise_id}: the completion lacks these lines of hint 3: {missing}"
    squeezed = _squeeze(source)
    snippets = re.findall(r"`([^`]+)`", hint)
    named = re.search(r"^# hint names, not code: (.*)$", source, re.MULTILINE)
    exempt = {part.strip() for part in named.group(1).split(" | ")} if named else set()
    absent = [s for s in snippets if s not in exempt
              if not re.search(".*?".join(re.escape(_squeeze(part)) for part in s.split("...")), squeezed)]
    assert not absent, f"{exercise_id}: the completion lacks these snippets of hint 3: {absent}"
    assert _code_lines(hint) or snippets, f"{exercise_id}: hint 3 shows no code at all"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("exercise_id", IDS)
def test_completed_last_hint_passes_the_check(exercise_id: str) -> None:
    ex = get_exercise(exercise_id)
    notebooks = sorted(SOLUTIONS.glob(f"{ex.notebook}_*.ipynb"))
    assert notebooks, f"no solution notebook for {exercise_id}"
    path = HERE / f"{exercise_id}.py"
    verdict = run_check(Submission(exercise_id, setup_of_notebook(notebooks[0]), path.read_text(encoding="utf-8"),
                                   origin=str(path)))
    assert verdict.ok, f"hint 3 of {exercise_id}, completed, does not pass:\n{verdict.render()}"
