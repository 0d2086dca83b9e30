"""Exercises, their checks, and the verdicts they produce.

A check is an ordinary ``async def`` that measures a learner's code against the real lab
services and either returns ``passed(...)`` or raises ``fail(...)``. It never decides how the
verdict is shown: the same Verdict becomes a notebook message, a pytest failure, or JSON.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

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

    def __init__(self, reason: str, summary: str, *, measured: str = "", expected: str = "", hint: str = "") -> None:
        super().__init__(summary)
        self.reason = reason
        self.summary = summary
        self.measured = measured
        self.expected = expected
        self.hint = hint


def fail(reason: str, summary: str, *, measured: str = "", expected: str = "", hint: str = "") -> CheckFailed:
    """Build the exception a check raises: ``raise fail("loop-blocked", "...", measured=...)``.

    ``reason`` is a short stable code that tests assert on; the other fields are for people.
    """
    return CheckFailed(reason, summary, measured=measured, expected=expected, hint=hint)


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
    starter_reason: str
    deadline: float = 30.0
    module: str = field(default="")

    @property
    def notebook(self) -> str:
        """The two-digit notebook number the id starts with ("03-bounded-fetch" -> "03")."""
        return self.id.split("-", 1)[0]


_REGISTRY: dict[str, Exercise] = {}


def exercise(
    id: str,
    *,
    defines: Sequence[str],
    hints: Sequence[str],
    starter_reason: str,
    deadline: float = 30.0,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check. At least three hints: a nudge, the idea, then almost the code."""
    if len(hints) < 3:
        raise ValueError(f"{id}: give at least three hints (nudge, idea, almost the code)")

    def register(fn: CheckFn) -> CheckFn:
        if id in _REGISTRY and _REGISTRY[id].module != fn.__module__:
            raise ValueError(f"exercise {id} is registered twice")
        _REGISTRY[id] = Exercise(
            id=id,
            defines=tuple(defines),
            check=fn,
            hints=tuple(hints),
            starter_reason=starter_reason,
            deadline=deadline,
            module=fn.__module__,
        )
        return fn

    return register


def _load_checks() -> None:
    from . import checks

    for info in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"{checks.__name__}.{info.name}")


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
