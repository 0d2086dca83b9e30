"""The worker processes' event logs: one JSON line per event, read back in time order.

A worker writes each line and flushes it at once, so a SIGKILL loses nothing already written;
the lab (and a check) reads every worker's file to see which jobs started, ended, or ran twice.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Event", "EventLog", "read_events"]


@dataclass(frozen=True)
class Event:
    """One line of a worker's event log: `kind` is ready, start, victim, steal-wait, done, returned, error, bad-payload."""

    t: float  # time.time() in the worker
    kind: str
    worker: str
    pid: int
    n: int | None = None
    text: str = ""


class EventLog:
    """The worker side: append one JSON line per event, flushed at once (a SIGKILL loses nothing written)."""

    def __init__(self, path: Path, worker: str) -> None:
        self.path = path
        self.worker = worker
        self._file = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, kind: str, n: int | None = None, text: str = "") -> None:
        line = json.dumps({"t": time.time(), "kind": kind, "worker": self.worker, "pid": os.getpid(), "n": n,
                           "text": text})
        self._file.write(line + "\n")
        self._file.flush()


def read_events(folder: Path) -> list[Event]:
    """Every event of every worker in `folder`, in time order. A half-written last line is skipped."""
    events: list[Event] = []
    for path in sorted(folder.glob("*.events")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            events.append(Event(float(data["t"]), str(data["kind"]), str(data["worker"]), int(data["pid"]),
                                data.get("n"), str(data.get("text") or "")))
    return sorted(events, key=lambda e: e.t)
