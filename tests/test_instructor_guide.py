"""docs/instructor.md's agendas add up, and give every notebook the minutes of its own front matter.

The front matter (a solution notebook's first markdown cell) says, e.g.
`Teaching: 35 minutes · Exercises: 20 minutes`. An agenda is the first Markdown table after a
marker comment, `<!-- agenda: day-1 -->`, `day-2` or `3-hour`, with rows

    | 09:00 | 01 · The event loop is not a thread pool | teaching 35 + exercises 20 |
    | 09:55 | Break | 15 |
    | 12:00 | End | |

A notebook row's item starts with the notebook's number and title (its front matter's heading);
every other row has plain minutes; the last row is `End`. Change a notebook's minutes and these
tests fail until the guide (and every clock time after that row) is updated.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "instructor.md"
SOLUTIONS = ROOT / "solutions"
WORKSHOP = ("day-1", "day-2")  # the whole course, one agenda per day
AGENDAS = (*WORKSHOP, "3-hour")
THREE_HOURS = 180
LONGEST_STRETCH = 120  # minutes of sessions in a row without a break

MARKER = re.compile(r"^\s*<!--\s*agenda:\s*([\w-]+)\s*-->\s*$")  # alone on its line
FRONT_MATTER = re.compile(
    r"Teaching:\s*(\d+)\s*min(?:ute)?s?\b\W*Exercises:\s*(\d+)\s*min(?:ute)?s?\b", re.IGNORECASE)
SESSION = re.compile(r"^teaching\s+(\d+)\s*\+\s*exercises\s+(\d+)$", re.IGNORECASE)
NOTEBOOK_ITEM = re.compile(r"^(\d\d)\s*·\s*(.+)$")
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
BREAK = re.compile(r"\b(break|lunch)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    line: int
    start: int  # minutes after midnight
    item: str
    minutes: int | None  # None only on the End row
    number: str | None = None  # "01" on a notebook row
    title: str | None = None
    teaching: int | None = None
    exercises: int | None = None

    def where(self) -> str:
        return f"docs/instructor.md line {self.line} ({self.item!r})"


@dataclass(frozen=True)
class FrontMatter:
    number: str
    title: str
    teaching: int
    exercises: int


def _plain(text: str) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # [text](link) -> text
    return text.replace("**", "").replace("`", "").strip()


def parse_agendas(text: str) -> dict[str, list[Row]]:
    """Every marked agenda table in `text`, by name."""
    lines = text.splitlines()
    agendas: dict[str, list[Row]] = {}
    for i, line in enumerate(lines):
        marker = MARKER.search(line)
        if not marker:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith("|"):
            assert not MARKER.search(lines[j]), f"line {i + 1}: agenda marker without a table"
            j += 1
        table = []
        while j < len(lines) and lines[j].strip().startswith("|"):
            table.append((j + 1, lines[j]))
            j += 1
        assert len(table) >= 3, f"line {i + 1}: the agenda {marker.group(1)!r} needs a header, a rule and rows"
        agendas[marker.group(1)] = [_row(n, raw) for n, raw in table[2:]]
    return agendas


def _row(line: int, raw: str) -> Row:
    cells = [c.strip() for c in raw.strip().strip("|").split("|")]
    assert len(cells) == 3, f"docs/instructor.md line {line}: an agenda row has 3 cells (start | item | minutes)"
    start, item, minutes = cells[0], _plain(cells[1]), _plain(cells[2])
    clock = CLOCK.match(start)
    assert clock, f"docs/instructor.md line {line}: start {start!r} is not HH:MM"
    at = int(clock.group(1)) * 60 + int(clock.group(2))
    session = SESSION.match(minutes)
    if session:
        notebook = NOTEBOOK_ITEM.match(item)
        assert notebook, f"docs/instructor.md line {line}: a notebook row's item starts with 'NN · Title'"
        teaching, exercises = int(session.group(1)), int(session.group(2))
        return Row(line, at, item, teaching + exercises, notebook.group(1), notebook.group(2).strip(), teaching, exercises)
    if minutes == "":
        return Row(line, at, item, None)
    assert minutes.isdigit(), (f"docs/instructor.md line {line}: minutes {minutes!r} must be a number or "
                               "'teaching NN + exercises NN'")
    assert not NOTEBOOK_ITEM.match(item), f"docs/instructor.md line {line}: a notebook row needs 'teaching NN + exercises NN'"
    return Row(line, at, item, int(minutes))


def front_matter(path: Path) -> FrontMatter:
    """Number, title and minutes from a solution notebook's first markdown cell."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    first = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
    assert first is not None, f"{path.name}: no markdown cell"
    source = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
    minutes = FRONT_MATTER.search(source)
    assert minutes, f"{path.name}: the first markdown cell has no 'Teaching: NN minutes · Exercises: NN minutes'"
    heading = re.search(r"^#\s+(.+)$", source, re.MULTILINE)
    assert heading, f"{path.name}: the first markdown cell has no '# NN · Title' heading"
    title = NOTEBOOK_ITEM.match(_plain(heading.group(1)))
    assert title, f"{path.name}: the heading is not 'NN · Title'"
    return FrontMatter(path.name[:2], title.group(2).strip(), int(minutes.group(1)), int(minutes.group(2)))


def mismatches(rows: list[Row], notebooks: dict[str, FrontMatter]) -> list[str]:
    """What differs between an agenda's notebook rows and the notebooks they name."""
    found = []
    for row in rows:
        if row.number is None or row.number not in notebooks:
            continue
        fm = notebooks[row.number]
        if (row.teaching, row.exercises) != (fm.teaching, fm.exercises):
            found.append(f"{row.where()}: teaching {row.teaching} + exercises {row.exercises}, but the notebook's front "
                         f"matter says teaching {fm.teaching} + exercises {fm.exercises}")
        if row.title != fm.title:
            found.append(f"{row.where()}: the notebook is called {fm.title!r}")
    return found


def clock_errors(rows: list[Row]) -> list[str]:
    """Each row starts when the one before it ends; the last row, and only it, is End."""
    errors = []
    for before, after in zip(rows, rows[1:], strict=False):
        if before.minutes is None:
            errors.append(f"{before.where()}: only the last row may have no minutes")
            continue
        if before.start + before.minutes != after.start:
            h, m = divmod(before.start + before.minutes, 60)
            errors.append(f"{after.where()}: starts at {after.start // 60:02d}:{after.start % 60:02d}, but the row "
                          f"before it ends at {h:02d}:{m:02d}")
    if rows and (rows[-1].minutes is not None or rows[-1].item.lower() != "end"):
        errors.append(f"{rows[-1].where()}: the last row must be 'End' with no minutes")
    return errors


NUMBERS = sorted(p.name[:2] for p in SOLUTIONS.glob("*.ipynb") if re.match(r"\d\d_", p.name))


@functools.cache
def notebooks() -> dict[str, FrontMatter]:
    """Front matter of every solution notebook that exists now, by number."""
    paths = sorted(p for p in SOLUTIONS.glob("*.ipynb") if re.match(r"\d\d_", p.name))
    return {p.name[:2]: front_matter(p) for p in paths}


@functools.cache
def agendas() -> dict[str, list[Row]]:
    return parse_agendas(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_both_agendas() -> None:
    assert set(AGENDAS) <= set(agendas()), f"docs/instructor.md needs <!-- agenda: ... --> tables for {AGENDAS}"


@pytest.mark.parametrize("agenda", AGENDAS)
def test_the_clock_adds_up(agenda: str) -> None:
    errors = clock_errors(agendas()[agenda])
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("agenda", AGENDAS)
def test_notebook_rows_use_the_notebooks_own_minutes(agenda: str) -> None:
    errors = mismatches(agendas()[agenda], notebooks())
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("agenda", AGENDAS)
def test_notebooks_come_in_course_order_once(agenda: str) -> None:
    numbers = [r.number for r in agendas()[agenda] if r.number is not None]
    assert numbers == sorted(set(numbers)), f"{agenda}: notebooks out of order or repeated: {numbers}"


def _workshop() -> list[Row]:
    """The two days' rows, day 1 first."""
    return [row for day in WORKSHOP for row in agendas()[day]]


@pytest.mark.parametrize("number", sorted(notebooks()))
def test_every_notebook_is_in_the_two_days(number: str) -> None:
    rows = [r for r in _workshop() if r.number == number]
    assert rows, f"solutions/{number}_*.ipynb is not in the two-day agenda (day-1, day-2) of docs/instructor.md"


def test_the_two_days_keep_course_order_across_days() -> None:
    numbers = [r.number for r in _workshop() if r.number is not None]
    assert numbers == sorted(set(numbers)), f"the two days: notebooks out of order or repeated: {numbers}"


@pytest.mark.parametrize("agenda", AGENDAS)
def test_agenda_rows_name_written_notebooks(agenda: str) -> None:
    missing = [r for r in agendas()[agenda] if r.number is not None and r.number not in notebooks()]
    if missing:
        pytest.skip("not written yet, so their minutes are unchecked: " + ", ".join(r.where() for r in missing))


def test_the_three_hour_agenda_lasts_three_hours() -> None:
    rows = agendas()["3-hour"]
    assert rows[-1].start - rows[0].start == THREE_HOURS


@pytest.mark.parametrize("agenda", AGENDAS)
def test_breaks_at_least_every_two_hours(agenda: str) -> None:
    stretch = 0
    for row in agendas()[agenda]:
        if row.minutes is None or BREAK.search(row.item):
            stretch = 0
            continue
        stretch += row.minutes
        assert stretch <= LONGEST_STRETCH, f"{row.where()}: {stretch} minutes since the last break"
    assert any(BREAK.search(r.item) for r in agendas()[agenda]), f"{agenda}: no break"


def test_the_checks_catch_an_edited_notebook() -> None:
    """If an author changes a notebook's minutes, the comparison must notice."""
    rows = [r for r in _workshop() if r.number in notebooks()]
    assert rows, "no notebook row to test with"
    edited = dict(notebooks())
    first = rows[0].number
    assert first is not None
    fm = edited[first]
    edited[first] = FrontMatter(fm.number, fm.title, fm.teaching + 5, fm.exercises)
    assert mismatches(rows, edited), "a changed front matter went unnoticed"


def test_the_parser_reads_the_documented_format() -> None:
    text = """<!-- agenda: demo -->
| Start | Item | Minutes |
|---|---|---|
| 09:00 | Welcome | 10 |
| 09:10 | [01 · The event loop](x.ipynb) | teaching 20 + exercises 20 |
| 09:50 | Break | 10 |
| 10:05 | End | |
"""
    rows = parse_agendas(text)["demo"]
    assert [r.minutes for r in rows] == [10, 40, 10, None]
    assert (rows[1].number, rows[1].title, rows[1].teaching, rows[1].exercises) == ("01", "The event loop", 20, 20)
    assert clock_errors(rows) == [f"{rows[3].where()}: starts at 10:05, but the row before it ends at 10:00"]


def test_relative_links_in_the_guide_resolve() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        if not (GUIDE.parent / target).exists():
            broken.append(target)
    assert not broken, f"links in docs/instructor.md that point nowhere: {broken}"


README_ROW = re.compile(r"^\|\s*(\d\d)\s*\|\s*`(\d\d_\w+)`\s*\|[^|]*\|\s*(\d+) min\s*\|\s*(\d+) min\s*\|$")


def test_the_readme_syllabus_uses_the_notebooks_own_minutes() -> None:
    rows = {m.group(1): m for m in map(README_ROW.match, (ROOT / "README.md").read_text().splitlines()) if m}
    books = notebooks()
    assert set(rows) == set(books), f"README syllabus rows {sorted(rows)} != solution notebooks {sorted(books)}"
    for number, row in rows.items():
        fm = books[number]
        assert (SOLUTIONS / f"{row.group(2)}.ipynb").exists(), f"README names {row.group(2)}, which is not in solutions/"
        assert (int(row.group(3)), int(row.group(4))) == (fm.teaching, fm.exercises), (
            f"README says {number} takes {row.group(3)} + {row.group(4)} min; its front matter says "
            f"{fm.teaching} + {fm.exercises}")
