"""Every exercise's last hint ("almost the code") passes its check when completed the obvious way.

asynclab/exercises/<folder>/hint_completion.py is the starter cell with the last hint filled in, as a
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

from asynclab.grading.layout import ROOT as EXERCISES
from asynclab.grading.layout import exercise_id_of_folder, folder_of
from asynclab.grading.registry import all_exercises, get_exercise
from asynclab.grading.runner import run_check
from asynclab.grading.submission import Submission, setup_of_notebook

SOLUTIONS = Path(__file__).parent.parent / "solutions"
IDS = sorted(all_exercises())
# Exercises whose grader takes about a second or two (measured on 2 busy cores): `make check` grades
# their completions too. Every other grader (and a new exercise's, until it is measured) is marked
# slow and runs in `make test`.
QUICK = {"00-warm-up", "02-fetch-all", "02-fetch-report", "04-api-client", "04-user-repo",
         "05-db-deadline"}


@pytest.fixture(scope="module")
def lab_env() -> object:
    """One lab for the module's graders; they reuse it through the ASYNCLAB_* variables it exports."""
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
    assert sorted(exercise_id_of_folder(p.parent) for p in EXERCISES.glob("*/hint_completion.py")) == IDS
    assert not QUICK - set(IDS), f"QUICK names no exercise: {sorted(QUICK - set(IDS))}"


@pytest.mark.parametrize("exercise_id", IDS)
def test_completion_follows_the_last_hint(exercise_id: str) -> None:
    hint = get_exercise(exercise_id).hints[-1]
    source = (folder_of(exercise_id) / "hint_completion.py").read_text(encoding="utf-8")
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
@pytest.mark.parametrize("exercise_id", [i if i in QUICK else pytest.param(i, marks=pytest.mark.slow) for i in IDS])
@pytest.mark.usefixtures("lab_env")
def test_completed_last_hint_passes_the_check(exercise_id: str) -> None:
    ex = get_exercise(exercise_id)
    notebooks = sorted(SOLUTIONS.glob(f"{ex.notebook}_*.ipynb"))
    assert notebooks, f"no solution notebook for {exercise_id}"
    path = folder_of(exercise_id) / "hint_completion.py"
    verdict = run_check(Submission(exercise_id, setup_of_notebook(notebooks[0]), path.read_text(encoding="utf-8"),
                                   origin=str(path)))
    assert verdict.ok, f"hint 3 of {exercise_id}, completed, does not pass:\n{verdict.render()}"


def _outputs(kc: object, msg_id: str, timeout: float = 120) -> str:
    """Text a cell's request produced (streams and text/plain), read from iopub until it is idle."""
    import time as _time

    texts: list[str] = []
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - _time.monotonic()))  # type: ignore[attr-defined]
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        if msg["msg_type"] == "stream":
            texts.append(content["text"])
        elif msg["msg_type"] in ("display_data", "execute_result"):
            texts.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            texts.append("\n".join(content["traceback"]))
        elif msg["msg_type"] == "status" and content["execution_state"] == "idle":
            return "".join(texts)
    raise AssertionError(f"no idle status for {msg_id} in {timeout} s; so far: {texts}")


@pytest.mark.slow  # a kernel, and a grader it starts
@pytest.mark.timeout(240)
@pytest.mark.usefixtures("lab_env")
def test_run_all_reveals_no_hint_and_a_deliberate_run_does() -> None:
    """Like JupyterLab's Run All, send the exercise, check and hint cells at once: the hint cell
    must reveal nothing. Run on its own after the verdict, it shows hint 1; a second Run All
    repeats hint 1 and never shows hint 2. (A hint cell placed *before* its check, with an older
    check finished, would count as asked for: course notebooks always put it after the check.)"""
    from jupyter_client.manager import start_new_kernel

    from asynclab.authoring.generate import starter_source
    from asynclab.grading.submission import from_notebook

    # The learner's starter cell, as notebooks/ gets it: it fails its check.
    exercise = starter_source(from_notebook(SOLUTIONS / "00_welcome.ipynb")["00-warm-up"].cell)
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        def run_all() -> list[str]:
            # The order of a course notebook (a hint cell follows its check), plus one hint cell
            # before the check: before any check has run, it must say to run the check first.
            ids = [kc.execute(code) for code in ("from asynclab import check, hint", 'hint("00-warm-up")',
                                                 exercise, 'check("00-warm-up")', 'hint("00-warm-up")')]
            return [_outputs(kc, i) for i in ids]

        first = run_all()
        assert "No hint yet: run the exercise cell and check" in first[1], first[1]
        assert "FAILED" in first[3], first[3]
        assert "Hint 1 of" not in "".join(first) and "No hint yet" in first[4], first[4]
        alone = _outputs(kc, kc.execute('hint("00-warm-up")'))
        assert "Hint 1 of 3" in alone, alone
        ids = [kc.execute(code) for code in (exercise, 'check("00-warm-up")', 'hint("00-warm-up")')]
        again = [_outputs(kc, i) for i in ids]  # Run All again, in the same kernel
        assert "Hint 1 of 3" in again[2] and "shown before" in again[2], again[2]
        assert "Hint 2 of" not in "".join(again)
        assert "Hint 2 of 3" in _outputs(kc, kc.execute('hint("00-warm-up")'))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
