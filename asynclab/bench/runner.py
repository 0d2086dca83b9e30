"""Run each family of rows in a process of its own, under a hard deadline.

Why a process per family: the broken variants block the event loop on purpose (a
`time.sleep` in a coroutine, a sync driver), and no `asyncio.timeout` can interrupt a blocked
loop. Here the parent kills the family's whole process group when its deadline passes, and
reports the rows it never got as "timed out". A family's process also dies with the parent
(`watch_parent`), and it reuses the parent's lab services through ASYNCLAB_API_URL /
ASYNCLAB_PG_DSN, which `asynclab.start()` exports.

    python -m asynclab.bench.runner asynclab.bench.n02_taskgroup --parent-pid N   # (the parent does this)

A family module defines `TITLE`, `DEADLINE` (seconds) and either `async def rows(lab, quick=False)`
or `def rows_sync(quick=False)`, a generator of `Row` and `Skip` items, yielded as each is measured.
The child prints each as one line `ASYNCLAB_BENCH <json>` on stdout; other output is ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .report import Row, Skip

LINE_PREFIX = "ASYNCLAB_BENCH "
KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL for a family's process group


@dataclass(frozen=True)
class Family:
    key: str  # what --only matches
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


FAMILIES = [
    Family("lab-server", "asynclab.bench.lab_server"),
    Family("01", "asynclab.bench.n01_event_loop"),
    Family("02", "asynclab.bench.n02_taskgroup"),
    Family("03", "asynclab.bench.n03_semaphores"),
    Family("04", "asynclab.bench.n04_pools"),
    Family("clients", "asynclab.bench.n04_clients"),
    Family("05", "asynclab.bench.n05_timeouts"),
    Family("07", "asynclab.bench.n07_capstone"),
]


# --- the child: one family ------------------------------------------------------------------

def _emit(item: Row | Skip) -> None:
    kind = "row" if isinstance(item, Row) else "skip"
    print(LINE_PREFIX + json.dumps({kind: item.to_dict()}), flush=True)


async def run_rows(module: ModuleType, quick: bool = False) -> None:
    """Run an async family on this loop: start (or reuse) the lab, then emit each row."""
    from ..lab import start

    lab = await start()
    async for item in module.rows(lab, quick=quick):
        _emit(item)


def child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.bench.runner")
    parser.add_argument("module")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        from ..services.child import watch_parent

        watch_parent(args.parent_pid)
    os.environ.setdefault("ASYNCLAB_NO_WIDGETS", "1")
    module = importlib.import_module(args.module)
    try:
        if hasattr(module, "rows_sync"):
            for item in module.rows_sync(quick=args.quick):
                _emit(item)
        else:
            asyncio.run(run_rows(module, args.quick))
    except BaseException as exc:
        traceback.print_exc()
        _emit(Skip(module.TITLE, f"failed: {type(exc).__name__}: {str(exc)[:200]}"))
        return 1
    return 0


# --- the parent -----------------------------------------------------------------------------

def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the family's process group (pool workers included), then SIGKILL what is left."""
    if os.name == "nt":  # pragma: no cover - no process groups: the family's services die with it
        proc.kill()
        proc.wait(timeout=5)
        return
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:
                # the leader is gone; make sure no member of its group outlives it
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            return
        except subprocess.TimeoutExpired:
            continue


def run_family(family: Family, on_item: Callable[[Row | Skip], None], *, quick: bool = False,
               deadline: float | None = None) -> bool:
    """Run one family in a child process; call `on_item` for each row as it arrives.

    Returns True when the family finished by itself, False when it failed or timed out
    (a Skip saying so has been passed to `on_item`).
    """
    module = family.load()
    limit = float(deadline if deadline is not None else module.DEADLINE)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asynclab.bench.runner", family.module, "--parent-pid", str(os.getpid()),
             *(["--quick"] if quick else [])],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, start_new_session=os.name != "nt",
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, name=f"bench-{family.key}-reader", daemon=True)
        reader.start()
        ends = time.monotonic() + limit
        finished = failed = False
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.0, ends - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    finished = True
                    break
                if not line.startswith(LINE_PREFIX):
                    continue
                data: dict[str, Any] = json.loads(line[len(LINE_PREFIX):])
                if "row" in data:
                    on_item(Row.from_dict(data["row"]))
                else:
                    skip = Skip(**data["skip"])
                    failed = failed or skip.reason.startswith("failed:")
                    on_item(skip)
        finally:
            _kill_group(proc)
            reader.join(timeout=2)
        if not finished:
            on_item(Skip(module.TITLE, f"timed out after {limit:.0f} s and was stopped; its remaining rows are missing"))
            return False
        if proc.returncode not in (0, None) and not failed:
            err.seek(0)
            tail = err.read().strip().splitlines()[-3:]
            on_item(Skip(module.TITLE, f"failed: exit code {proc.returncode}: {' / '.join(tail)[:300]}"))
        return proc.returncode == 0


if __name__ == "__main__":
    sys.exit(child_main())
