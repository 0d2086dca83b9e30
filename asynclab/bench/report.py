"""Rows, targets, the progress lines, the table and `bench-results.json`.

A row is one measurement next to its ideal:

    Row("03-bounded-fetch: wall time, 1000 requests", "fixed", measured=4.3, ideal=4.0, unit="s",
        target=Target.within(1.3))

`ratio` is measured / ideal, and None where the ideal is 0 (an overshoot row: `measured` is
the overshoot itself, and its target is an absolute bound). Rows of a rate ("req/s") are
better when higher (`better="higher"`); their ratio stays measured / ideal, so it is below 1.

The JSON file is the interface documented in docs/bench.md: a list of objects with `name`,
`variant` (`fixed`, `broken` or `baseline`), `measured`, `ideal`, `unit` and `ratio`. Each
object also carries `note` (what else was seen: errors, counts), `load` (the 1-minute load
average when the row arrived), `vs_fixed` (measured / the
fixed variant's measured for broken and baseline rows, inverted for rates, so that above 1
always means worse), `target` (text), `meets_target` and `better` ("lower" or "higher").
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

VARIANTS = ("fixed", "broken", "baseline")
Better = Literal["lower", "higher"]


def ratio(measured: float, ideal: float) -> float | None:
    """measured / ideal; None where the ideal is 0 (an overshoot row has no ratio)."""
    if ideal == 0:
        return None
    return measured / ideal


@dataclass(frozen=True)
class Target:
    """What a row should meet. Four kinds:

    within    ratio to the ideal at most `bound` (at least 1/bound for a rate)
    under     measured below `bound` (overshoots in seconds, shares of time)
    worse     at least `bound` × worse than the fixed variant (for broken rows)
    at_least  measured at least `bound` (a count where the fixed variant's is 0, e.g. 429 answers)
    """

    kind: Literal["within", "under", "worse", "at_least"]
    bound: float

    @classmethod
    def within(cls, bound: float) -> Target:
        return cls("within", bound)

    @classmethod
    def under(cls, bound: float) -> Target:
        return cls("under", bound)

    @classmethod
    def worse(cls, bound: float) -> Target:
        return cls("worse", bound)

    @classmethod
    def at_least(cls, bound: float) -> Target:
        return cls("at_least", bound)

    def text(self, unit: str) -> str:
        if self.kind == "within":
            return f"within {self.bound:g}× ideal"
        if self.kind == "under":
            return f"< {self.bound:g} {unit}" if unit != "share" else f"< {self.bound:.0%}"
        if self.kind == "at_least":
            return f"≥ {self.bound:g} {unit}"
        return f"≥ {self.bound:g}× worse than fixed"

    def met(self, row: Row) -> bool | None:
        if self.kind == "within":
            r = row.ratio
            if r is None:
                return None
            return r <= self.bound if row.better == "lower" else r >= 1 / self.bound
        if self.kind == "under":
            return row.measured < self.bound
        if self.kind == "at_least":
            return row.measured >= self.bound
        if row.vs_fixed is None:
            return row.better == "higher" and row.measured == 0  # a rate of 0 is infinitely worse
        return row.vs_fixed >= self.bound


@dataclass
class Row:
    name: str
    variant: str
    measured: float
    ideal: float
    unit: str
    note: str = ""
    target: Target | None = None
    better: Better = "lower"
    vs_fixed: float | None = None
    load: float | None = None  # the 1-minute load average when the row was measured (set by the runner)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for label, value in (("measured", self.measured), ("ideal", self.ideal)):
            if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
                raise ValueError(f"{self.name}: {label} must be a finite number, got {value!r}")
        self.measured, self.ideal = float(self.measured), float(self.ideal)

    @property
    def ratio(self) -> float | None:
        return ratio(self.measured, self.ideal)

    def against(self, fixed: Row | float) -> Row:
        """Set `vs_fixed` from the fixed variant's row (or its measured value); returns self.

        `vs_fixed` is how many times worse than the fixed variant this row is, whichever way is
        better: measured / fixed for times, fixed / measured for rates. Above 1 is worse.
        """
        value = fixed.measured if isinstance(fixed, Row) else float(fixed)
        if self.better == "lower":
            self.vs_fixed = self.measured / value if value else None
        else:
            self.vs_fixed = value / self.measured if self.measured else None
        return self

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.target.met(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "variant": self.variant, "measured": self.measured, "ideal": self.ideal,
            "unit": self.unit, "ratio": self.ratio, "note": self.note, "vs_fixed": self.vs_fixed,
            "target": self.target.text(self.unit) if self.target else None, "meets_target": self.meets_target,
            "better": self.better, "load": self.load,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        target = _parse_target(data.get("target"))
        return cls(data["name"], data["variant"], data["measured"], data["ideal"], data["unit"],
                   note=data.get("note") or "", target=target, better=data.get("better") or "lower",
                   vs_fixed=data.get("vs_fixed"), load=data.get("load"))


def _parse_target(text: str | None) -> Target | None:
    """The inverse of Target.text (rows travel from a family's process as JSON)."""
    if not text:
        return None
    if text.startswith("within "):
        return Target.within(float(text.split()[1].rstrip("×")))
    if text.startswith("≥ "):
        number = text.split()[1]
        return Target.worse(float(number.rstrip("×"))) if number.endswith("×") else Target.at_least(float(number))
    if text.startswith("< "):
        number = text.split()[1]
        return Target.under(float(number.rstrip("%")) / 100 if number.endswith("%") else float(number))
    raise ValueError(f"unknown target {text!r}")


@dataclass(frozen=True)
class Skip:
    """A row (or a family of rows) that could not be measured, and why. Never a number."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


# --- text ---------------------------------------------------------------------------------------

def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"
    if unit == "s":
        return f"{value:.3f} s" if abs(value) < 1 else f"{value:.2f} s"
    if unit in ("req/s",) or float(value).is_integer():
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def compared(vs_fixed: float | None, *, than: str = "") -> str:
    """'44× worse', '1.24× better', 'same' (than the fixed variant, + `than`), or '-'."""
    if vs_fixed is None or vs_fixed <= 0:
        return "-"
    if abs(vs_fixed - 1) < 0.005:
        return "same" + (f" as {than}" if than else "")
    value, word = (vs_fixed, "worse") if vs_fixed >= 1 else (1 / vs_fixed, "better")
    return (f"{value:.2f}×" if value < 10 else f"{value:.0f}×") + f" {word}" + (f" than {than}" if than else "")


def verdict(row: Row) -> str:
    met = row.meets_target
    return "-" if met is None else ("yes" if met else "NO")


def progress_line(elapsed: float, item: Row | Skip) -> str:
    """One line for the terminal as a row completes: `[  12.3 s] name  variant  value (ideal, ratio)`."""
    head = f"[{elapsed:6.1f} s]"
    if isinstance(item, Skip):
        return f"{head} SKIP   {item.name}: {item.reason}"
    parts = [f"{head} {item.variant:<8} {item.name}: {fmt_value(item.measured, item.unit)}",
             f"(ideal {fmt_value(item.ideal, item.unit)}, ratio {fmt_ratio(item.ratio)}"]
    if item.vs_fixed is not None:
        parts[-1] += f", {compared(item.vs_fixed, than='fixed')}"
    parts[-1] += ")"
    if item.target is not None:
        parts.append(f"target {item.target.text(item.unit)}: {verdict(item)}")
    if item.load is not None:
        parts.append(f"[load {item.load:.1f}]")
    return " ".join(parts)


def format_table(rows: Sequence[Row], skips: Iterable[Skip] = (), *, notes: bool = True) -> str:
    """A Markdown table (the docs paste it as is), then one line per skipped row."""
    head = ["name", "variant", "measured", "ideal", "ratio", "vs fixed", "target", "met"] + (["note"] if notes else [])
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|---:|---|---|" + ("---|" if notes else "")]
    for r in rows:
        cells = [r.name, r.variant, fmt_value(r.measured, r.unit), fmt_value(r.ideal, r.unit), fmt_ratio(r.ratio),
                 compared(r.vs_fixed), r.target.text(r.unit) if r.target else "-", verdict(r)]
        if notes:
            cells.append(r.note.replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    skips = list(skips)
    if skips:
        lines.append("")
        lines.extend(f"not measured: {skip.name}: {skip.reason}" for skip in skips)
    return "\n".join(lines)


def grouped(rows: Sequence[Row]) -> list[Row]:
    """Rows of the same name together (in the order names first appeared): fixed, broken, baseline.

    Families yield rows as they complete, so a fixed row and its broken partner may be apart.
    """
    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        first.setdefault(r.name, i)
    return sorted(rows, key=lambda r: (first[r.name], VARIANTS.index(r.variant)))


def write_json(path: str | Path, rows: Sequence[Row]) -> None:
    Path(path).write_text(json.dumps([r.to_dict() for r in rows], indent=2) + "\n", encoding="utf-8")
