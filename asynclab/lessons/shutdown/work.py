"""Background work for the shutdown lessons, with a journal that outlives the process.

Why a journal file: after SIGTERM the service's process is gone, so only something written
outside it can say which jobs finished, which were cancelled (and said so), and which vanished.

    await background_job(settings, job_id)     # in the app: sleeps, writes start/done/cancelled
    tally = read_journal(settings["journal"])  # in the notebook or the check, after the process ended
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["JobTally", "background_job", "job_seconds", "read_journal"]

STUCK_SECONDS = 3600.0  # a stuck job: only cancelling it ends it


def job_seconds(settings: dict[str, Any], job_id: int) -> float:
    """How long job `job_id` takes: `job_seconds`, or forever for every `stuck_every`-th job."""
    every = int(settings.get("stuck_every", 0))
    if every and job_id % every == every - 1:
        return STUCK_SECONDS
    return float(settings["job_seconds"])


def _write(settings: dict[str, Any], event: str, job_id: int) -> None:
    # O_APPEND writes of one short line are atomic: the journal cannot interleave.
    fd = os.open(settings["journal"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{event} {job_id}\n".encode())
    finally:
        os.close(fd)


async def background_job(settings: dict[str, Any], job_id: int) -> None:
    """The work a request leaves behind (say, writing an audit record). Cancellable; says so."""
    _write(settings, "start", job_id)
    try:
        await asyncio.sleep(job_seconds(settings, job_id))
    except asyncio.CancelledError:
        _write(settings, "cancelled", job_id)
        raise
    _write(settings, "done", job_id)


@dataclass
class JobTally:
    """Jobs by fate. `lost` started and neither finished nor were cancelled: nobody knows."""

    started: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    cancelled: set[int] = field(default_factory=set)

    @property
    def lost(self) -> set[int]:
        return self.started - self.done - self.cancelled

    def summary(self) -> str:
        return (f"jobs: {len(self.started)} started, {len(self.done)} done, {len(self.cancelled)} cancelled "
                f"and logged, {len(self.lost)} lost")


def read_journal(path: str | os.PathLike[str]) -> JobTally:
    tally = JobTally()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return tally
    for line in lines:
        event, _, job = line.partition(" ")
        if not job.isdigit():
            continue
        bucket = {"start": tally.started, "done": tally.done, "cancelled": tally.cancelled}.get(event)
        if bucket is not None:
            bucket.add(int(job))
    return tally
