"""The progress table: one line per exercise, the count, and what to do next.

Pure functions of results, no grading: the command line, `progress()` in a notebook and the
tests all render the same rows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not-attempted"
# Symbols and words both: emoji and even some symbol fonts are missing on many terminals.
MARKERS = {PASSED: "✓ passed", FAILED: "✗ failed", NOT_ATTEMPTED: "· not attempted"}


@dataclass(frozen=True)
class Result:
    """One exercise's state: status, the verdict's one-line reason, and where it lives."""

    exercise_id: str
    status: str
    reason: str = ""  # the verdict's stable code ("loop-blocked"), or what kept it from grading
    summary: str = ""  # the verdict's sentence for people
    seconds: float | None = None
    notebook: str = ""
    section: str = ""

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "reason": self.reason, "summary": self.summary,
                "seconds": None if self.seconds is None else round(self.seconds, 2)}

    @property
    def why(self) -> str:
        """The one line a learner reads after ✗: reason code and summary."""
        return one_line(": ".join(part for part in (self.reason, self.summary) if part))


def one_line(text: str, limit: int = 110) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def done(results: list[Result]) -> int:
    return sum(r.status == PASSED for r in results)


def next_step(results: list[Result]) -> Result | None:
    """The first exercise, in course order, that has not passed yet."""
    return next((r for r in results if r.status != PASSED), None)


def next_line(results: list[Result], folder: str = "notebooks") -> str:
    todo = next_step(results)
    if todo is None:
        return "Next: nothing left, every exercise passes. Well done!"
    where = f"{folder}/{todo.notebook}" if todo.notebook else f"its notebook in {folder}/"
    section = f', section "{todo.section}"' if todo.section else ""
    return f"Next: {todo.exercise_id} in {where}{section}"


def render_text(results: list[Result], folder: str = "notebooks") -> str:
    width = max((len(r.exercise_id) for r in results), default=0)
    lines = []
    for r in results:
        marker = MARKERS.get(r.status, r.status)
        reason = f"  ({r.why})" if r.why and r.status == FAILED else ""
        lines.append(f"{marker:<16} {r.exercise_id:<{width}}{reason}".rstrip())
    lines.append("")
    lines.append(f"{done(results)} of {len(results)} done")
    lines.append(next_line(results, folder))
    return "\n".join(lines)


def render_html(results: list[Result], folder: str = "notebooks") -> str:
    colour = {PASSED: "#1a7f37", FAILED: "#cf222e", NOT_ATTEMPTED: "#6e7781"}
    rows = "".join(
        f"<tr><td style='color:{colour.get(r.status, '#000')};white-space:nowrap'>"
        f"{html.escape(MARKERS.get(r.status, r.status))}</td>"
        f"<td><code>{html.escape(r.exercise_id)}</code></td>"
        f"<td>{html.escape(r.why) if r.status == FAILED else ''}</td></tr>"
        for r in results
    )
    return (
        "<table><thead><tr><th>status</th><th>exercise</th><th>reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<p><b>{done(results)} of {len(results)} done.</b> {html.escape(next_line(results, folder))}</p>"
    )
