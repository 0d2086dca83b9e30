"""Run `make test`'s steps in order, show progress and timings, and total the results.

Usage: python -m asynclab.tools.testrun "name" -- cmd args "name 2" -- cmd2 args ...

Every step runs even when an earlier one failed, so one run shows everything that is wrong;
the exit code is non-zero if any step failed. The last line totals pytest's counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def parse_steps(argv: list[str]) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(argv):
        name = argv[i]
        if i + 1 >= len(argv) or argv[i + 1] != "--":
            raise SystemExit(f"testrun: expected '--' after step name {name!r}")
        j = i + 2
        while j < len(argv) and not (j + 1 < len(argv) and argv[j + 1] == "--"):
            j += 1
        steps.append((name, argv[i + 2 : j]))
        i = j
    return steps


def run_step(cmd: list[str]) -> tuple[int, dict[str, int]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line
    code = proc.wait()
    counts: dict[str, int] = {}
    if " in " in last and ("passed" in last or "failed" in last or "error" in last):
        for number, word in COUNT.findall(last):
            key = "errors" if word.startswith("error") else word
            counts[key] = counts.get(key, 0) + int(number)
    return code, counts


def main(argv: list[str]) -> int:
    os.environ.setdefault("ASYNCLAB_TEST_RUN", uuid.uuid4().hex)  # inherited by all we start: see orphans.py
    steps = parse_steps(argv)
    results = []
    totals: dict[str, int] = {}
    began = time.monotonic()
    for n, (name, cmd) in enumerate(steps, 1):
        print(f"\n━━ [{n}/{len(steps)}] {name} ━━  {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        code, counts = run_step(cmd)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        results.append((name, code, time.monotonic() - t0))
    print("\n━━ summary ━━")
    for name, code, seconds in results:
        print(f"  {'ok  ' if code == 0 else 'FAIL'}  {name:<26} {seconds:6.1f} s" + ("" if code == 0 else f"  (exit {code})"))
    failed_steps = sum(1 for _, code, _ in results if code != 0)
    print(f"  total {time.monotonic() - began:.0f} s; {failed_steps} of {len(results)} steps failed")
    failed = totals.get("failed", 0) + totals.get("errors", 0)
    if failed_steps and not failed:
        failed = failed_steps  # a step failed without a pytest count: count it, never hide it
    print(f"make test: {totals.get('passed', 0)} passed, {failed} failed")
    return 1 if failed_steps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
