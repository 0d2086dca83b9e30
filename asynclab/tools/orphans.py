"""Fail if `make test` left a lab process behind (a server, a grader, a PostgreSQL).

Only processes started after ASYNCLAB_TEST_STARTED count, so a learner's own running lab
is never blamed. Services get a few seconds to notice their parent has gone.
"""

from __future__ import annotations

import os
import sys
import time

import psutil

MARKERS = ("asynclab.services", "asynclab.grading.worker", "ipykernel_launcher")


def _is_ours(proc: psutil.Process, since: float) -> bool:
    try:
        if proc.create_time() < since or proc.pid == os.getpid():
            return False
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if any(marker in cmd for marker in MARKERS):
        return True
    return "postgres" in proc.name() and "asynclab" in cmd


def leftovers(since: float) -> list[str]:
    found = []
    for proc in psutil.process_iter():
        if _is_ours(proc, since):
            try:
                found.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:160]}")
            except psutil.Error:
                continue
    return found


def main() -> int:
    since = float(os.environ.get("ASYNCLAB_TEST_STARTED", "0"))
    deadline = time.monotonic() + 15
    found = leftovers(since)
    while found and time.monotonic() < deadline:
        time.sleep(0.5)
        found = leftovers(since)
    if found:
        print("Processes left behind by the test run:\n  " + "\n  ".join(found))
        print("make test: 0 passed, 1 failed")
        return 1
    print("no lab process left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
