"""Exercises, their checks, and the verdicts they produce.

A check is an ordinary ``async def`` that measures a learner's code against the real lab
services and either returns ``passed(...)`` or raises ``fail(...)``. It never decides how the
verdict is shown: the same Verdict becomes a notebook message, a pytest failure, or JSON.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .layout import exercise_id_of_folder, folders
from .reasons import Reason

if TYPE_CHECKING:
    from ..lab import Lab

CheckFn = Callable[[ModuleType, "Lab"], Coroutine[Any, Any, "Verdict"]]


@dataclass
class Verdict:
    """What a check found. ``status`` is passed, failed, error (the code crashed) or timeout."""

    exercise: str
    status: str
    summary: str
    reason: str = ""
    measured: str = ""
    expected: str = ""
    hint: str = ""
    details: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: str(v) for k, v in data.items() if k in known})

    def render(self) -> str:
        """The text a learner reads: one line on a pass, measured/expected/hint on a failure."""
        if self.ok:
            line = f"✅ {self.exercise}: passed. {self.summary}".rstrip()
            return line + (f"\n   measured: {self.measured}" if self.measured else "")
        icon = {"failed": "❌", "timeout": "⏱️", "error": "💥"}.get(self.status, "❌")
        lines = [f"{icon} {self.exercise}: {self.summary}"]
        for label, value in (("measured", self.measured), ("expected", self.expected), ("hint", self.hint)):
            if value:
                lines.append(f"   {label}: {value}")
        if self.details:
            lines.append("   " + self.details.replace("\n", "\n   "))
        return "\n".join(lines)


class CheckFailed(Exception):
    """Raised inside a check to end it with a failing verdict."""

    def __init__(self, reason: Reason, summary: str, *, measured: str = "", expected: str = "", hint: str = "",
                 decisive: bool = False) -> None:
        super().__init__(summary)
        self.reason = reason
        self.summary = summary
        self.measured = measured
        self.expected = expected
        self.hint = hint
        self.decisive = decisive


def fail(reason: Reason, summary: str, *, measured: str = "", expected: str = "", hint: str = "",
         decisive: bool = False) -> CheckFailed:
    """Build the exception a check raises: ``raise fail(Reason.LOOP_BLOCKED, "...", measured=...)``.

    ``reason`` is one of the closed set in reasons.py, which tests assert on; the other fields are for people.
    ``decisive``: a timing failure so far past its margin that no busy machine explains it, so
    measuring again would only make the learner wait. Each check says where that is (00: nothing back
    in 16x the longest pause; 07: the app's loop stalled 2 s); for a call still running when the check
    stopped waiting, `still_running_far_past` says it.
    """
    return CheckFailed(reason, summary, measured=measured, expected=expected, hint=hint, decisive=decisive)


FAR_PAST = 2.0  # a call still running at this many times its allowed seconds was not slowed by the machine


def still_running_far_past(elapsed: float, allowed: float) -> bool:
    """True for a call still running after FAR_PAST x the seconds a right answer may take: a right answer
    on one busy core gives up within its deadline plus the slack (asyncio.timeout's own timer), so
    only code that never stops, or one that swallowed the cancellation, is still going at twice that."""
    return elapsed >= FAR_PAST * allowed


def passed(summary: str = "", *, measured: str = "") -> Verdict:
    """Build the verdict a check returns when everything held. The exercise id is filled in later."""
    return Verdict(exercise="", status="passed", summary=summary, measured=measured)


@dataclass
class Exercise:
    """One exercise: its id, what the cell must define, its check, hints and deadline."""

    id: str
    defines: tuple[str, ...]
    check: CheckFn
    hints: tuple[str, ...]
    starter_reason: Reason
    deadline: float = 30.0
    module: str = field(default="")

    @property
    def notebook(self) -> str:
        """The two-digit notebook number the id starts with ("03-bounded-fetch" -> "03")."""
        return self.id.split("-", 1)[0]


_REGISTRY: dict[str, Exercise] = {}


def exercise(check_file: str) -> Callable[[CheckFn], CheckFn]:
    """Register the check in `check_file` (pass ``__file__``) with the exercise.toml beside it.

    The toml holds what an author edits most (the hint ladder, starter_reason, the deadline) as
    data; at least three hints: a nudge, the idea, then almost the code.
    """
    meta = read_exercise_toml(Path(check_file).with_name("exercise.toml"))

    def register(fn: CheckFn) -> CheckFn:
        ex_id = meta["id"]
        if ex_id in _REGISTRY and _REGISTRY[ex_id].module != fn.__module__:
            raise ValueError(f"exercise {ex_id} is registered twice")
        _REGISTRY[ex_id] = Exercise(
            id=ex_id,
            defines=tuple(meta["defines"]),
            check=fn,
            hints=tuple(meta["hints"]),
            starter_reason=Reason(meta["starter_reason"]),
            deadline=float(meta.get("deadline", 30.0)),
            module=fn.__module__,
        )
        return fn

    return register


def read_exercise_toml(path: Path) -> dict[str, Any]:
    """An exercise.toml, validated: a clear error names the file and the field."""
    with path.open("rb") as f:
        meta = tomllib.load(f)
    for key in ("id", "defines", "starter_reason", "hints"):
        if key not in meta:
            raise ValueError(f"{path}: missing `{key}`")
    if exercise_id_of_folder(path.parent) != meta["id"]:
        raise ValueError(f"{path}: id {meta['id']!r} does not match its folder {path.parent.name}")
    if len(meta["hints"]) < 3:
        raise ValueError(f"{path}: give at least three hints (nudge, idea, almost the code)")
    if meta["starter_reason"] not in {r.value for r in Reason}:
        raise ValueError(f"{path}: starter_reason {meta['starter_reason']!r} is not a Reason (grading/reasons.py)")
    return meta


def _load_checks() -> None:
    for folder in folders():
        if (folder / "check.py").exists():
            importlib.import_module(f"asynclab.exercises.{folder.name}.check")


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id, in id order."""
    _load_checks()
    return dict(sorted(_REGISTRY.items()))


def get_exercise(exercise_id: str) -> Exercise:
    exercises = all_exercises()
    try:
        return exercises[exercise_id]
    except KeyError:
        known = ", ".join(exercises) or "none yet"
        raise KeyError(f"No exercise called {exercise_id!r}. Known exercises: {known}") from None
