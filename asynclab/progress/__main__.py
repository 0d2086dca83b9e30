"""`python -m asynclab.progress`: grade my notebooks and tell me what is next.

    python -m asynclab.progress                      grade notebooks/ (the same checks as check())
    python -m asynclab.progress --notebooks DIR      another folder
    python -m asynclab.progress --json FILE          also write the results as JSON ('-': stdout)
    python -m asynclab.progress --summary A.json B.json ...   many learners' results, one table
    python -m asynclab.progress --solutions DIR      where solutions/ is, for an installed (non -e) copy

Exit status 0 whatever the learner's results; 2 only when grading itself could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .table import Result, render_text


def _write_json(results: list[Result], target: str) -> None:
    text = json.dumps({r.exercise_id: r.as_json() for r in results}, indent=1) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")


def _summary(files: list[Path], solutions: Path) -> int:
    from .grade import course_order
    from .summary import load_reports, render, summarise

    reports, problems = load_reports(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not reports:
        print("no readable progress report among the files given", file=sys.stderr)
        return 2
    print(render(summarise(reports, course_order(solutions)), len(reports)))
    return 0


def _start_lab(slots: int) -> list[dict[str, str]]:
    """PostgreSQL, shared, and one API server per check running at once: each slot's environment."""
    from ..lab import API_ENV, share_postgres_sync, start_api_servers

    share_postgres_sync()
    return [{API_ENV: api.url} for api in start_api_servers(slots)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.progress", description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of notebooks to grade")
    parser.add_argument("--json", metavar="FILE", help="write {exercise: {status, reason, summary, seconds}} ('-' for stdout)")
    parser.add_argument("--jobs", type=int, default=None, help="checks run at once (default: the cores you may use)")
    parser.add_argument("--solutions", type=Path, default=None,
                        help="the course's solutions/ folder (default: beside the package, or $ASYNCLAB_SOLUTIONS)")
    parser.add_argument("--summary", nargs="+", type=Path, metavar="FILE", help="combine learners' --json files")
    args = parser.parse_args(argv)
    from .grade import solutions_folder

    solutions = args.solutions or solutions_folder()
    if not solutions.is_dir():
        print(f"no folder {solutions}/: pass --solutions DIR (the course's solutions/, for its order and starters)",
              file=sys.stderr)
        return 2
    if args.summary:
        return _summary(args.summary, solutions)
    if not args.notebooks.is_dir():
        print(f"no folder {args.notebooks}/ here: run this from the course folder, or pass --notebooks DIR", file=sys.stderr)
        return 2
    from ..errors import LabError
    from .grade import grade_folder

    try:
        results, problems = grade_folder(args.notebooks, solutions=solutions, jobs=args.jobs, start_lab=_start_lab)
    except LabError as exc:
        print(f"grading could not run: the lab services did not start ({exc})", file=sys.stderr)
        return 2
    out = sys.stderr if args.json == "-" else sys.stdout
    for problem in problems:
        print(f"problem: {problem}", file=out)
    print(render_text(results, str(args.notebooks)), file=out)
    if args.json:
        _write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
