"""`python -m asynclab.progress` and `progress()`: what a learner sees, on real notebook files.

The table, summary and bad-input tests grade nothing (untouched starters are never graded),
so they are fast; one test grades one solved exercise, and the slow one two solved notebooks at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asynclab.authoring.generate import generate
from asynclab.grading.reasons import Reason
from asynclab.grading.registry import Verdict, all_exercises
from asynclab.grading.submission import Submission
from asynclab.progress import grade, progress, record_verdict, recorded_results
from asynclab.progress.__main__ import main
from asynclab.progress.grade import course_order, grade_folder
from asynclab.progress.summary import load_reports, summarise
from asynclab.progress.table import FAILED, NOT_ATTEMPTED, PASSED, Result, next_line, render_html, render_text

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
N = len(all_exercises())
ORDER = course_order(SOLUTIONS)


def _no_lab() -> None:
    raise AssertionError("nothing needed grading, yet the lab was started")


@pytest.fixture
def learner(tmp_path: Path) -> Path:
    """The learner notebooks as `make notebooks` writes them (what a fresh clone has), in a scratch folder."""
    folder = tmp_path / "notebooks"
    assert generate(SOLUTIONS, folder) == []
    return folder


def _cells(path: Path) -> tuple[dict, list[dict]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb, nb["cells"]


def _exercise_cell(cells: list[dict], ex_id: str) -> dict:
    return next(c for c in cells if "".join(c["source"]).startswith(f"# Exercise: {ex_id}"))


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asynclab.progress", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_course_order_is_every_registered_exercise_notebook_by_notebook() -> None:
    assert sorted(ORDER) == sorted(all_exercises())
    assert [ex_id[:2] for ex_id in ORDER] == sorted(ex_id[:2] for ex_id in ORDER)


def test_a_fresh_clone_is_0_of_n_and_grades_nothing(learner: Path) -> None:
    results, problems = grade_folder(learner, start_lab=_no_lab)
    assert problems == []
    assert [r.exercise_id for r in results] == ORDER
    assert {r.status for r in results} == {NOT_ATTEMPTED}
    text = render_text(results)
    assert f"0 of {N} done" in text
    assert f"Next: {ORDER[0]} in notebooks/00_" in text and 'section "' in text


def test_the_command_reports_a_fresh_clone_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "me.json"
    done = _run_cli("--notebooks", "notebooks", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert f"0 of {N} done" in done.stdout and "not attempted" in done.stdout
    data = json.loads(out.read_text())
    assert list(data) == ORDER
    assert all(entry["status"] == "not-attempted" and set(entry) >= {"reason", "seconds"} for entry in data.values())


def test_one_solved_exercise_is_1_of_n_with_the_next_step(learner: Path, tmp_path: Path) -> None:
    first, second = ORDER[0], ORDER[1]
    solution_nb = next(SOLUTIONS.glob(f"{first[:2]}_*.ipynb"))
    _, solution_cells = _cells(solution_nb)
    nb, cells = _cells(learner / solution_nb.name)
    _exercise_cell(cells, first)["source"] = _exercise_cell(solution_cells, first)["source"]
    (learner / solution_nb.name).write_text(json.dumps(nb), encoding="utf-8")
    out = tmp_path / "me.json"
    done = _run_cli("--notebooks", str(learner), "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert f"✓ passed         {first}" in done.stdout, done.stdout
    assert f"1 of {N} done" in done.stdout
    next_nb = next(SOLUTIONS.glob(f"{second[:2]}_*.ipynb")).name
    assert f"Next: {second} in {learner}/{next_nb}, section \"" in done.stdout, done.stdout
    data = json.loads(out.read_text())
    assert data[first]["status"] == "passed" and data[first]["seconds"] > 0
    assert "grading [" in done.stderr  # the progress bar, on stderr


def test_checks_at_once_never_share_a_server_and_a_failure_is_graded_once(
        learner: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from asynclab.progress import grade  # (the attribute asynclab.progress is the function progress())

    for ex_id in ORDER[:4]:  # four edited cells, graded two at a time
        path = next(learner.glob(f"{ex_id[:2]}_*.ipynb"))
        nb, cells = _cells(path)
        _exercise_cell(cells, ex_id)["source"] += "\n# edited\n"
        path.write_text(json.dumps(nb))
    runs: list[str] = []
    running: set[str] = set()
    lock, both = threading.Lock(), threading.Barrier(2, timeout=10)
    asked: list[int] = []

    def slots(n: int) -> list[dict[str, str]]:
        asked.append(n)
        return [{"ASYNCLAB_API_URL": f"http://127.0.0.1:{9000 + i}"} for i in range(n)]

    def fake(submission: object, env: dict[str, str] | None = None) -> Result:
        ex_id = submission.exercise_id  # type: ignore[attr-defined]
        assert env is not None
        with lock:
            runs.append(ex_id)
            assert env["ASYNCLAB_API_URL"] not in running  # no other running check has this server
            running.add(env["ASYNCLAB_API_URL"])
        both.wait()  # two checks really run at once
        with lock:
            running.discard(env["ASYNCLAB_API_URL"])
        return Result(ex_id, FAILED, "too-slow") if ex_id == ORDER[1] else Result(ex_id, PASSED, seconds=0.1)

    monkeypatch.setattr(grade, "_grade_one", fake)
    results, _ = grade_folder(learner, jobs=2, start_lab=slots)
    assert asked == [2]
    assert sorted(runs) == sorted(ORDER[:4])  # each graded once, the noisy failure too (the worker re-measures)
    assert [r.status for r in results[:4]] == [PASSED, FAILED, PASSED, PASSED]
    assert results[1].reason == "too-slow"


@pytest.mark.slow
def test_the_command_starts_one_api_server_per_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from asynclab.lab import API_ENV, PG_ENV, stop_sync
    from asynclab.progress.__main__ import _start_lab

    for name in (API_ENV, PG_ENV):
        monkeypatch.delenv(name, raising=False)
    try:
        slots = _start_lab(2)
        urls = [slot[API_ENV] for slot in slots]
        assert len(set(urls)) == 2, urls  # two servers, not one shared
        assert all(httpx.get(f"{url}/_lab/health", timeout=5).status_code == 200 for url in urls)
    finally:
        stop_sync()
    with pytest.raises(httpx.TransportError):  # stop_sync stopped them
        httpx.get(f"{urls[0]}/_lab/health", timeout=2)


@pytest.mark.slow
def test_solved_notebooks_are_graded_at_once_and_next_is_the_first_left(learner: Path) -> None:
    """Two solved notebooks among starters, graded by the command two at a time on real servers.

    (Every solution passing is nbval's job, and `N of N` is the table's: grading all of solutions/
    here again cost 22 s of the slow step.)"""
    solved = [next(SOLUTIONS.glob(f"{n}_*.ipynb")) for n in ("00", "02")]
    for path in solved:
        (learner / path.name).write_bytes(path.read_bytes())
    done = _run_cli("--notebooks", str(learner), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    graded = [ex_id for ex_id in ORDER if ex_id[:2] in ("00", "02")]
    assert len(graded) == 3 and all(f"✓ passed         {ex_id}" in done.stdout for ex_id in graded), done.stdout
    assert f"3 of {N} done" in done.stdout
    first_left = next(ex_id for ex_id in ORDER if ex_id not in graded)
    assert f"Next: {first_left} in {learner}/" in done.stdout, done.stdout


def test_table_shows_words_reasons_count_and_next_step() -> None:
    results = [Result("00-a", PASSED, seconds=1.0, notebook="00_x.ipynb", section="Warm up"),
               Result("01-b", FAILED, "loop-blocked", "the loop stalled\nfor 2 s", 3.0, "01_y.ipynb", "Exercise 01-b"),
               Result("01-c", NOT_ATTEMPTED, notebook="01_y.ipynb", section="Exercise 01-c")]
    text = render_text(results)
    assert "✓ passed" in text and "✗ failed" in text and "· not attempted" in text
    assert "(loop-blocked: the loop stalled for 2 s)" in text  # one line, newlines folded
    assert "1 of 3 done" in text
    assert text.endswith('Next: 01-b in notebooks/01_y.ipynb, section "Exercise 01-b"')
    html = render_html(results)
    assert "<table>" in html and "1 of 3 done" in html and "loop-blocked" in html
    assert next_line([results[0]]).startswith("Next: nothing left")


def test_summary_of_three_learners(tmp_path: Path) -> None:
    reports = [
        {"03-bounded-fetch": {"status": "passed"}, "02-fetch-all": {"status": "passed"}},
        {"03-bounded-fetch": {"status": "failed", "reason": "too-slow"}, "02-fetch-all": {"status": "not-attempted"}},
        {"03-bounded-fetch": {"status": "failed", "reason": "too-slow"},
         "02-fetch-all": {"status": "failed", "reason": "wrong-result"}},
    ]
    files = []
    for i, report in enumerate(reports):
        files.append(tmp_path / f"learner{i}.json")
        files[-1].write_text(json.dumps(report))
    rows = {r.exercise_id: r for r in summarise(load_reports(files)[0], ORDER)}
    assert (rows["03-bounded-fetch"].passed, rows["03-bounded-fetch"].failed) == (1, 2)
    assert rows["03-bounded-fetch"].top_reason == "too-slow (2)"
    row = rows["02-fetch-all"]
    assert (row.passed, row.not_attempted, row.top_reason) == (1, 1, "wrong-result (1)")
    assert rows[ORDER[-1]].not_attempted == 3  # check() records list only what was checked
    done = _run_cli("--summary", *map(str, files))
    assert done.returncode == 0, done.stderr
    assert "3 learners" in done.stdout
    line = next(line for line in done.stdout.splitlines() if line.startswith("03-bounded-fetch"))
    assert line.split()[1:3] == ["1", "2"] and line.endswith("too-slow (2)")
    assert done.stdout.index("02-fetch-all") < done.stdout.index("03-bounded-fetch")  # course order


def test_summary_skips_a_file_that_is_not_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"00-warm-up": {"status": "passed"}}))
    bad.write_text("{ not json")
    assert main(["--summary", str(good), str(bad), str(tmp_path / "missing.json")]) == 0
    captured = capsys.readouterr()
    assert "1 learner" in captured.out
    assert len(captured.err.strip().splitlines()) == 2 and "Traceback" not in captured.err
    assert "bad.json: not valid JSON" in captured.err and "missing.json: cannot be read" in captured.err


def test_a_notebook_that_is_not_json_is_one_line_and_the_rest_is_reported(learner: Path) -> None:
    broken = next(learner.glob("03_*.ipynb"))
    broken.write_text(broken.read_text()[:500])  # a save cut short
    results, problems = grade_folder(learner, start_lab=_no_lab)
    assert len(problems) == 1 and "is not valid JSON" in problems[0] and "03_" in problems[0]
    by_id = {r.exercise_id: r for r in results}
    assert {by_id[i].status for i in ORDER if i.startswith("03-")} == {FAILED}
    assert {by_id[i].reason for i in ORDER if i.startswith("03-")} == {Reason.NOT_FOUND}
    assert {by_id[i].status for i in ORDER if not i.startswith("03-")} == {NOT_ATTEMPTED}
    assert next_line(results).startswith(f"Next: {ORDER[0]} ")


def test_an_exercise_cell_without_its_first_line_is_named(learner: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex_id = next(i for i in ORDER if i.startswith("02-"))
    path = next(learner.glob("02_*.ipynb"))
    nb, cells = _cells(path)
    cell = _exercise_cell(cells, ex_id)
    cell["source"] = "".join(cell["source"]).split("\n", 1)[1]
    path.write_text(json.dumps(nb))
    assert main(["--notebooks", str(learner)]) == 0
    out = capsys.readouterr().out
    problem_lines = [line for line in out.splitlines() if line.startswith("problem:")]
    assert len(problem_lines) == 1 and f"put '# Exercise: {ex_id}' back" in problem_lines[0]
    assert f"✗ failed         {ex_id}" in out and "Traceback" not in out
    assert sum("not attempted" in line for line in out.splitlines()) == N - 1


def test_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--notebooks", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no folder" in err
    assert main(["--solutions", str(tmp_path / "nope")]) == 2
    assert "--solutions DIR" in capsys.readouterr().err


def test_check_verdicts_are_recorded_and_shown_by_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "progress.json"
    monkeypatch.setenv("ASYNCLAB_PROGRESS_FILE", str(store))
    record_verdict(Verdict(ORDER[0], "passed", "fine"))
    record_verdict(Verdict(ORDER[1], "failed", "the loop stalled", reason="loop-blocked"))
    statuses = {r.exercise_id: (r.status, r.reason) for r in recorded_results()}
    assert statuses[ORDER[0]] == (PASSED, "") and statuses[ORDER[1]] == (FAILED, "loop-blocked")
    assert statuses[ORDER[2]][0] == NOT_ATTEMPTED
    progress()  # no kernel here: the text table
    out = capsys.readouterr().out
    assert f"1 of {N} done" in out and f"Next: {ORDER[1]}" in out
    store.write_text("{ torn")  # an unreadable record is no record, never an error
    assert {r.status for r in recorded_results()} == {NOT_ATTEMPTED}
    monkeypatch.setenv("ASYNCLAB_PROGRESS_FILE", str(tmp_path / "file" / "under" / "a" / "file"))
    (tmp_path / "file").write_text("")
    record_verdict(Verdict(ORDER[0], "passed", "fine"))  # cannot be written: silently skipped


def test_the_solution_notebooks_under_nbval_record_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLAB_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.setenv("ASYNCLAB_CHECKS_MUST_PASS", "1")
    record_verdict(Verdict(ORDER[0], "passed", "fine"))
    assert not (tmp_path / "progress.json").exists()


@pytest.mark.slow
def test_check_in_a_kernel_records_and_progress_shows_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbclient
    import nbformat

    store = tmp_path / "progress.json"
    monkeypatch.setenv("ASYNCLAB_PROGRESS_FILE", str(store))  # the kernel inherits it
    monkeypatch.delenv("ASYNCLAB_CHECKS_MUST_PASS", raising=False)
    first = ORDER[0]
    _, cells = _cells(next(SOLUTIONS.glob(f"{first[:2]}_*.ipynb")))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from asynclab import check, progress"),
                nbformat.v4.new_code_cell("".join(_exercise_cell(cells, first)["source"])),
                nbformat.v4.new_code_cell(f'check("{first}")'), nbformat.v4.new_code_cell("progress()")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert json.loads(store.read_text())[first]["status"] == "passed"
    shown = nb.cells[3].outputs[0]["data"]
    assert "<table>" in shown["text/html"] and f"1 of {N} done" in shown["text/plain"]


def test_a_grader_that_cannot_run_is_a_failure_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_interpreter(*_: object, **__: object) -> Verdict:
        raise OSError("no such file: python")

    monkeypatch.setattr(grade, "run_check", no_interpreter)
    submission = Submission(ORDER[0], "", f"# Exercise: {ORDER[0]}\n", origin="test")
    result = grade._grade_one(submission)
    assert (result.status, result.reason) == (FAILED, Reason.GRADER_ERROR)
    assert "the grader could not run: no such file: python" in result.summary
