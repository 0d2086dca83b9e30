"""Notebook 09's lesson code on its own: the job journal, the drill's arithmetic, the task dump.

The drill itself (uvicorn, SIGTERM) is exercised by notebook 09 and the 09-graceful-shutdown
known answers; these are the parts whose mistakes would make those verdicts lie quietly.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from asynclab.lessons.capstone import LoadReport, Result, StopReport
from asynclab.lessons.shutdown import (
    DrillReport,
    ReadyWatch,
    RequestIdFilter,
    background_job,
    job_seconds,
    read_journal,
    request_id,
    shutdown_settings,
    task_dump,
)


def test_job_seconds_marks_every_nth_job_stuck(tmp_path: Path) -> None:
    settings = shutdown_settings(tmp_path, stuck_every=5, job_seconds=0.6)
    assert [job_seconds(settings, j) == 0.6 for j in range(10)] == [True] * 4 + [False] + [True] * 4 + [False]


def test_journal_tells_done_cancelled_and_lost(tmp_path: Path) -> None:
    settings = shutdown_settings(tmp_path, job_seconds=0.01, stuck_every=2)

    async def run() -> None:
        done = asyncio.create_task(background_job(settings, 0))
        stuck = asyncio.create_task(background_job(settings, 1))
        await asyncio.sleep(0.05)
        stuck.cancel()
        await asyncio.gather(done, stuck, return_exceptions=True)

    asyncio.run(run())
    with open(settings["journal"], "a", encoding="utf-8") as f:
        f.write("start 7\nnonsense line\n")  # a job that vanished, and a line that is not a job
    tally = read_journal(settings["journal"])
    assert (tally.started, tally.done, tally.cancelled, tally.lost) == ({0, 1, 7}, {0}, {1}, {7})
    assert read_journal(tmp_path / "missing.log").started == set()


def _result(i: int, sent: float, end: float, status: int | None) -> Result:
    return Result(i, f"/work/{i}", status, None if status else "ClientConnectorError", end - sent, end)


def test_a_request_sent_after_readiness_failed_is_rerouted_not_lost() -> None:
    results = [_result(0, 0.1, 0.3, 200), _result(1, 0.9, 1.2, 200),  # in flight at SIGTERM (1.0)
               _result(2, 1.05, 1.06, None),  # refused while /ready still said 200: lost
               _result(3, 1.2, 1.21, None)]  # sent after /ready said 503: rerouted
    load = LoadReport(url="http://x", label="", clients=1, rate=None, timeout=5, elapsed=2, results=results)
    drill = DrillReport(load, 1.0, ReadyWatch(first_not_ready=1.1, first_refused=1.0), StopReport(True, 1.0, 0),
                        read_journal("/nonexistent"))
    assert [r.index for r in drill.lost] == [2]
    assert drill.rerouted == 1
    assert [r.index for r in drill.in_flight_at_sigterm] == [1]
    never = DrillReport(load, 1.0, ReadyWatch(), StopReport(True, 1.0, 0), read_journal("/nonexistent"))
    assert [r.index for r in never.lost] == [2, 3] and never.rerouted == 0


def test_task_dump_follows_awaits_down_to_the_lock() -> None:
    async def run() -> str:
        lock = asyncio.Lock()
        await lock.acquire()

        async def waiter() -> None:
            async with lock:
                pass

        task = asyncio.create_task(waiter(), name="t-waiter")
        await asyncio.sleep(0.01)
        dump = task_dump("t-")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return dump

    dump = asyncio.run(run())
    assert dump.splitlines()[0].startswith("t-waiter") and "    acquire  line" in dump


def test_request_id_filter_stamps_the_current_task_s_id() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("asynclab.test.shutdown")
    log.addHandler(handler)
    log.propagate = False

    async def one(rid: str) -> None:
        request_id.set(rid)
        await asyncio.sleep(0)
        log.warning("hello")

    async def run() -> None:
        await asyncio.gather(one("a"), one("b"))

    try:
        asyncio.run(run())
        log.warning("outside")
    finally:
        log.removeHandler(handler)
    assert sorted(r.request_id for r in records) == ["-", "a", "b"]  # type: ignore[attr-defined]
