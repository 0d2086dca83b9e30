"""The grading vocabulary is closed: every reason means one thing, is raised, and is tested.

A reason nobody raises is dead vocabulary; a reason no known answer or judge test expects is a
verdict no test has ever seen a check give.
"""

from __future__ import annotations

import re
from pathlib import Path

from asynclab.grading.layout import answer_files
from asynclab.grading.reasons import REASON_MEANING, Reason
from asynclab.grading.submission import EXPECT_RE

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for p in (ROOT / "asynclab").rglob("*.py")
        if p.name != "reasons.py" and "answers" not in p.parts and p.name != "hint_completion.py"]
TESTS = [p for p in [*(ROOT / "tests").rglob("test_*.py"), *(ROOT / "exercises_tests").glob("test_*.py")]
         if p.name != "test_reasons.py"]


def _members_named_in(paths: list[Path]) -> set[str]:
    return {name for p in paths for name in re.findall(r"\bReason\.([A-Z0-9_]+)", p.read_text(encoding="utf-8"))}


def _expected_by_known_answers() -> set[str]:
    found = set()
    for path in answer_files():
        match = EXPECT_RE.match(path.read_text(encoding="utf-8").partition("\n")[0].strip())
        assert match, f"{path}: first line must be '# expect: pass' or '# expect: <reason>'"
        found.add(match.group("what"))
    return found


def test_every_reason_has_one_line_of_meaning() -> None:
    assert set(REASON_MEANING) == set(Reason)
    assert all(text and "\n" not in text for text in REASON_MEANING.values())


def test_no_two_reasons_share_a_meaning() -> None:
    meanings = list(REASON_MEANING.values())
    assert len(set(meanings)) == len(meanings)


def test_every_reason_is_raised_somewhere() -> None:
    unused = sorted(r.value for r in Reason if r.name not in _members_named_in(CODE))
    assert not unused, f"reasons no check or grader gives (remove them, or raise them): {unused}"


def test_checks_name_reasons_through_the_enum() -> None:
    loose = [f"{p.relative_to(ROOT)}: {m}" for p in CODE
             for m in re.findall(r"\bfail\(\s*\"[a-z0-9-]+\"", p.read_text(encoding="utf-8"))]
    assert not loose, f"fail() takes a Reason member, not a string: {loose}"


def test_every_known_answer_expects_a_real_reason() -> None:
    unknown = _expected_by_known_answers() - {r.value for r in Reason} - {"pass"}
    assert not unknown, f"known answers expect reasons that do not exist: {sorted(unknown)}"


def test_every_reason_is_covered_by_a_known_answer_or_a_test() -> None:
    tested = _members_named_in(TESTS)
    quoted = {r for r in Reason for p in TESTS if f'"{r.value}"' in p.read_text(encoding="utf-8")}
    covered = _expected_by_known_answers() | {Reason[n].value for n in tested} | {r.value for r in quoted}
    uncovered = sorted(r.value for r in Reason if r.value not in covered)
    assert not uncovered, f"reasons no known answer expects and no judge test asserts: {uncovered}"
