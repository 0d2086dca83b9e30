"""A class on one node: N learners run their checks at the same time; are the verdicts still right?

    python -m asynclab.tools.classload -n 4            # 4 learners, every exercise once each
    python -m asynclab.tools.classload -n 4 --rounds 2 --json classload.json

Every simulated learner has what a learner's kernel has: an API server of its own (a kernel
starts one with `await asynclab.start()`), and runs the graders one after another, each in its
own process, through the same runner `check()` uses. PostgreSQL is shared (one keeper, as a
test session shares it; a learner's own is the same program with a data folder of its own).
The learners start at different places in the list, so at any moment they run different
exercises: the solutions (expect a pass) and a few known answers (expect their reason:
blocking ones and timing-sensitive ones, the verdicts load could flip).

It prints one line per check as it ends, then wrong verdicts and per-exercise times, and
exits non-zero on any wrong verdict. Pin it to fewer cores with `taskset -c 0 python -m ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
# Known answers whose verdict a loaded machine could plausibly flip: they go round the class too.
LOADED_KNOWN = ("00-warm-up/blocks_loop", "01-unblock-handler/to_thread_sleep", "02-fetch-all/sequential",
                "03-bounded-fetch/blocks_loop", "05-deadline-fetch/blocks_loop", "06-task-registry/blocks_loop")


@dataclass
class Outcome:
    learner: int
    case: str
    expected: str
    got: str
    seconds: float
    summary: str

    @property
    def right(self) -> bool:
        return self.got == self.expected


def cases(known: tuple[str, ...] = LOADED_KNOWN) -> list[tuple[str, object, str]]:
    """(name, submission, expected verdict) for every solution exercise and the chosen known answers."""
    from ..grading.layout import folder_of
    from ..grading.submission import from_notebook, known_answer

    found: list[tuple[str, object, str]] = []
    for notebook in sorted(SOLUTIONS.glob("*.ipynb")):
        for ex_id, submission in from_notebook(notebook).items():
            found.append((f"{ex_id}/solution", submission, "pass"))
    for name in known:
        ex_id, _, stem = name.partition("/")
        path = folder_of(ex_id) / "answers" / f"{stem}.py"
        if path.exists():
            submission, want = known_answer(path, SOLUTIONS)
            found.append((name, submission, want))
    return found


def _learner(index: int, plan: list[tuple[str, object, str]], api_url: str, report: list[Outcome],
             lock: threading.Lock) -> None:
    from ..grading.runner import run_check

    for name, submission, expected in plan:
        started = time.monotonic()
        verdict = run_check(submission, env={"ASYNCLAB_API_URL": api_url})  # type: ignore[arg-type]
        got = "pass" if verdict.ok else (verdict.reason or verdict.status)
        outcome = Outcome(index, name, expected, got, time.monotonic() - started, verdict.summary[:120])
        with lock:
            report.append(outcome)
            mark = "ok   " if outcome.right else "WRONG"
            print(f"{mark} learner {index}  {name:42} {outcome.seconds:6.1f} s  expected {expected}, got {got}",
                  flush=True)


def run_class(n: int, rounds: int = 1) -> list[Outcome]:
    """Run the class; return every check's outcome."""
    from ..lab import share_postgres_sync, stop_sync
    from ..services.api_client import start_api

    all_cases = cases()
    share_postgres_sync()
    servers = [start_api() for _ in range(n)]
    report: list[Outcome] = []
    lock = threading.Lock()
    try:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="learner") as pool:
            futures = []
            for i, (api, _child) in enumerate(servers):
                shift = i * len(all_cases) // n  # start at different exercises
                plan = (all_cases[shift:] + all_cases[:shift]) * rounds
                futures.append(pool.submit(_learner, i, plan, api.url, report, lock))
            for future in futures:
                future.result()
    finally:
        for _api, child in servers:
            child.stop()
        stop_sync()
    return report


def summary(report: list[Outcome]) -> str:
    lines = []
    wrong = [o for o in report if not o.right]
    lines.append(f"{len(report)} checks, {len(wrong)} wrong verdict(s)")
    for o in wrong:
        lines.append(f"  WRONG learner {o.learner} {o.case}: expected {o.expected}, got {o.got} ({o.summary})")
    by_case: dict[str, list[float]] = {}
    for o in report:
        by_case.setdefault(o.case, []).append(o.seconds)
    lines.append("per check, seconds (min / max over learners):")
    for case, times in sorted(by_case.items()):
        lines.append(f"  {case:44} {min(times):6.1f} {max(times):6.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.tools.classload", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4, help="learners checking at the same time (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="times each learner goes through the list")
    parser.add_argument("--json", type=Path, help="also write every outcome here")
    args = parser.parse_args(argv)
    for name in ("ASYNCLAB_API_URL", "ASYNCLAB_PG_DSN"):
        os.environ.pop(name, None)  # this tool starts its own
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.n} learners on {cores} core(s); load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    started = time.monotonic()
    report = run_class(args.n, args.rounds)
    print(summary(report))
    print(f"{time.monotonic() - started:.0f} s in all; load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in report], indent=1), encoding="utf-8")
    return 1 if any(not o.right for o in report) else 0


if __name__ == "__main__":
    sys.exit(main())
