"""Run `make test`'s steps in order, show progress and timings, and total the results.

Usage: python -m asynclab.tools.testrun "name" -- cmd args "name 2" -- cmd2 args ...

Every step runs even when an earlier one failed, so one run shows everything that is wrong;
the exit code is non-zero if any step failed. The last line totals pytest's counts.

A step named "& name" runs beside the next step that has no "&": lint and types (one core, 8 s on
a fresh clone) beside the fast unit tests, which leave half of two cores idle. Its output is shown
when that step ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")
BESIDE = "& "  # a step name starting with this runs beside the next step


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


def _counts(last: str) -> dict[str, int]:
    """pytest's counts from its summary line ("3 passed, 1 failed in 2.0s"); none from anything else."""
    counts: dict[str, int] = {}
    if " in " in last and ("passed" in last or "failed" in last or "error" in last):
        for number, word in COUNT.findall(last):
            key = "errors" if word.startswith("error") else word
            counts[key] = counts.get(key, 0) + int(number)
    return counts


def run_step(cmd: list[str]) -> tuple[int, dict[str, int]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line
    return proc.wait(), _counts(last)


class Beside:
    """A step running beside another: its output goes to a file (a pipe nobody reads would fill and
    stop it), and a thread notes when it ends, so its time is its own."""

    def __init__(self, name: str, cmd: list[str]) -> None:
        self.name, self.cmd = name, cmd
        self.out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115  (closed in finish())
        self.began = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, text=True)
        self.ended = self.began
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.ended = time.monotonic()

    def finish(self) -> tuple[int, dict[str, int], float]:
        """Wait for it, show its output; its exit code, pytest counts and seconds."""
        self._waiter.join()
        self.out.seek(0)
        text = self.out.read()
        self.out.close()
        print(f"\n━━ {self.name} (ran beside the step above) ━━  {' '.join(self.cmd)}", flush=True)
        sys.stdout.write(text)
        lines = [line for line in text.splitlines() if line.strip()]
        return self.proc.returncode, _counts(lines[-1] if lines else ""), self.ended - self.began


def main(argv: list[str]) -> int:
    os.environ.setdefault("ASYNCLAB_TEST_RUN", uuid.uuid4().hex)  # inherited by all we start: see orphans.py
    steps = parse_steps(argv)
    results: list[tuple[str, int, float, str]] = []
    totals: dict[str, int] = {}
    began = time.monotonic()
    beside: list[Beside] = []

    def record(name: str, code: int, counts: dict[str, int], seconds: float, note: str = "") -> None:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        results.append((name, code, seconds, note))

    for n, (name, cmd) in enumerate(steps, 1):
        if name.startswith(BESIDE):
            print(f"\n━━ [{n}/{len(steps)}] {name[len(BESIDE):]} (beside the next step) ━━  {' '.join(cmd)}", flush=True)
            beside.append(Beside(name[len(BESIDE):], cmd))
            continue
        print(f"\n━━ [{n}/{len(steps)}] {name} ━━  {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        code, counts = run_step(cmd)
        record(name, code, counts, time.monotonic() - t0)
        for step in beside:
            record(step.name, *step.finish(), note=f"beside {name}")
        beside.clear()
    for step in beside:  # "&" on the last step: nothing to run beside, so it just runs
        record(step.name, *step.finish())
    print("\n━━ summary ━━")
    for name, code, seconds, note in results:
        print(f"  {'ok  ' if code == 0 else 'FAIL'}  {name:<26} {seconds:6.1f} s" + ("" if code == 0 else f"  (exit {code})")
              + (f"  ({note})" if note else ""))
    failed_steps = sum(1 for _, code, _, _ in results if code != 0)
    print(f"  total {time.monotonic() - began:.0f} s from the first step's start to the last one's end; "
          f"{failed_steps} of {len(results)} steps failed")
    failed = totals.get("failed", 0) + totals.get("errors", 0)
    if failed_steps and not failed:
        failed = failed_steps  # a step failed without a pytest count: count it, never hide it
    print(f"make test: {totals.get('passed', 0)} passed, {failed} failed")
    return 1 if failed_steps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
