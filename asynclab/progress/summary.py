"""`--summary`: many learners' `--json` files as one table for the instructor.

Per exercise: how many learners passed, failed or have not started, and the failing reason
met most often, which is where the room is stuck. The files are `--json` reports or the records
check() keeps (store.py): both map exercise ids to {"status", "reason", ...}.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Row:
    exercise_id: str
    passed: int = 0
    failed: int = 0
    not_attempted: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def top_reason(self) -> str:
        if not self.reasons:
            return ""
        reason, count = self.reasons.most_common(1)[0]
        return f"{reason} ({count})"


def load_reports(paths: list[Path]) -> tuple[list[dict[str, dict]], list[str]]:
    """The readable reports, and one line per file that is not one."""
    reports, problems = [], []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc}); skipped")
            continue
        except ValueError as exc:
            problems.append(f"{path}: not valid JSON ({exc}); skipped")
            continue
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            problems.append(f"{path}: not a progress report (python -m asynclab.progress --json FILE); skipped")
            continue
        reports.append(data)
    return reports, problems


def summarise(reports: list[dict[str, dict]], order: list[str] | None = None) -> list[Row]:
    """One row per exercise, in `order` first (the course's), then any others by id."""
    rows: dict[str, Row] = {ex_id: Row(ex_id) for ex_id in order or []}
    for report in reports:
        for ex_id, entry in report.items():
            row = rows.setdefault(ex_id, Row(ex_id))
            status = entry.get("status")
            if status == "passed":
                row.passed += 1
            elif status == "failed":
                row.failed += 1
                row.reasons[str(entry.get("reason") or "unknown")] += 1
    for row in rows.values():  # check() records list only what was checked: the rest was not attempted
        row.not_attempted = len(reports) - row.passed - row.failed
    known = [rows[ex_id] for ex_id in order or [] if ex_id in rows]
    others = sorted((r for ex_id, r in rows.items() if ex_id not in (order or [])), key=lambda r: r.exercise_id)
    return known + others


def render(rows: list[Row], learners: int) -> str:
    width = max((len(r.exercise_id) for r in rows), default=8)
    lines = [f"{learners} learner{'s' if learners != 1 else ''}",
             f"{'exercise':<{width}}  passed  failed  not attempted  most common failing reason"]
    for r in rows:
        lines.append(f"{r.exercise_id:<{width}}  {r.passed:>6}  {r.failed:>6}  {r.not_attempted:>13}  {r.top_reason}")
    return "\n".join(lines)
