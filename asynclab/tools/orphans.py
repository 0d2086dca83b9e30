"""Fail if `make test` left a lab process behind (a server, a grader, a kernel, a PostgreSQL).

`asynclab.tools.testrun` puts a fresh ASYNCLAB_TEST_RUN id into the environment, which every
process it starts inherits (kernels, services, postgres). Only processes carrying that id
count, so a learner's own lab, or another test run on the same machine, is never blamed.
Services get a few seconds to notice their parent has gone.
"""

from __future__ import annotations

import os
import sys
import time

import psutil

MARKERS = ("asynclab.services", "asynclab.grading.worker", "asynclab.lessons", "ipykernel_launcher", "uvicorn")


RUN_ENV = "ASYNCLAB_TEST_RUN"


def _is_ours(proc: psutil.Process, run_id: str) -> bool:
    try:
        if proc.pid == os.getpid() or proc.environ().get(RUN_ENV) != run_id:
            return False
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(marker in cmd for marker in MARKERS) or "postgres" in proc.name()


def leftovers(run_id: str) -> list[str]:
    found = []
    for proc in psutil.process_iter():
        if _is_ours(proc, run_id):
            try:
                found.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:160]}")
            except psutil.Error:
                continue
    return found


def main() -> int:
    run_id = os.environ.get(RUN_ENV)
    if not run_id:
        print(f"{RUN_ENV} is not set: run this through asynclab.tools.testrun (make test)")
        return 2
    deadline = time.monotonic() + 15
    found = leftovers(run_id)
    while found and time.monotonic() < deadline:
        time.sleep(0.5)
        found = leftovers(run_id)
    if found:
        print("Processes left behind by the test run:\n  " + "\n  ".join(found))
        print("make test: 0 passed, 1 failed")
        return 1
    print("no lab process left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
