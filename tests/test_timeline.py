"""Timeline: spans and tracked tasks, semaphores letting exactly N run, TaskGroup cancellations."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

import asynclab
from asynclab import Timeline

pytestmark = pytest.mark.anyio
N_TASKS = 12
LIMIT = 3
WORK = 0.05


async def test_semaphore_lets_exactly_n_spans_run_at_once() -> None:
    tl = Timeline()
    sem = asyncio.Semaphore(LIMIT)

    async def job(i: int) -> None:
        async with sem, tl.span(f"fetch {i}"):
            await asyncio.sleep(WORK)

    async with asyncio.timeout(10), tl:
        await asyncio.gather(*(job(i) for i in range(N_TASKS)))
    assert len(tl.spans) == N_TASKS
    assert tl.max_concurrent() == LIMIT
    assert tl.outcomes() == {"ok": N_TASKS, "error": 0, "cancelled": 0, "running": 0}


@pytest.mark.parametrize("limit", [1, N_TASKS])
async def test_sequential_and_unbounded(limit: int) -> None:
    tl = Timeline()
    sem = asyncio.Semaphore(limit)

    async def job(i: int) -> None:
        async with tl.span(f"job {i}", acquire=sem):
            await asyncio.sleep(0.01)

    async with asyncio.timeout(10), tl:
        await asyncio.gather(*(job(i) for i in range(N_TASKS)))
    assert tl.max_concurrent() == limit


async def test_tracked_tasks_in_a_task_group_with_semaphore_waits() -> None:
    sem = asyncio.Semaphore(LIMIT)
    tl = Timeline(track_tasks=True)

    async def fetch() -> str:
        async with tl.acquire(sem, "semaphore"):
            await asyncio.sleep(WORK)
        return "ok"

    async with asyncio.timeout(10), tl, asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch(), name=f"fetch {i}") for i in range(N_TASKS)]
    assert [t.result() for t in tasks] == ["ok"] * N_TASKS
    assert sorted(s.name for s in tl.spans) == sorted(f"fetch {i}" for i in range(N_TASKS))
    assert all(s.kind == "task" and s.outcome == "ok" for s in tl.spans)
    assert tl.max_concurrent() == LIMIT
    waited = [s for s in tl.spans if s.waits and s.waits[0].end - s.waits[0].start >= WORK / 2]
    assert len(waited) >= N_TASKS - LIMIT, "the tasks beyond the limit waited for the semaphore"
    assert all(w.label == "semaphore" for s in tl.spans for w in s.waits)


async def test_task_group_failure_cancels_the_siblings() -> None:
    tl = Timeline(track_tasks=True)
    long = 2.0

    async def slow(i: int) -> None:
        await asyncio.sleep(long)

    async def broken() -> None:
        await asyncio.sleep(0.05)
        raise ValueError("boom")

    with pytest.raises(ExceptionGroup) as info:
        async with asyncio.timeout(10), tl, asyncio.TaskGroup() as tg:
            for i in range(5):
                tg.create_task(slow(i), name=f"slow {i}")
            tg.create_task(broken(), name="broken")
    assert info.group_contains(ValueError)
    assert tl.outcomes() == {"ok": 0, "error": 1, "cancelled": 5, "running": 0}
    failure = tl.first_failure()
    assert failure is not None
    (bad,) = [s for s in tl.spans if s.outcome == "error"]
    assert bad.name == "broken" and "ValueError: boom" in (bad.error or "")
    for span in tl.spans:
        if span.outcome == "cancelled":
            assert span.end is not None and failure <= span.end < long / 2, "cut short right after the failure"


async def test_gather_without_return_exceptions_lets_siblings_finish() -> None:
    tl = Timeline(track_tasks=True)

    async def ok() -> None:
        await asyncio.sleep(0.1)

    async def bad() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async with asyncio.timeout(10), tl:
        with pytest.raises(ValueError):
            await asyncio.gather(ok(), ok(), bad())
        await asyncio.sleep(0.2)  # the siblings run on after gather raised
    assert tl.outcomes()["ok"] == 2 and tl.outcomes()["error"] == 1
    failure = tl.first_failure()
    assert failure is not None
    assert all(s.end is not None and s.end > failure for s in tl.spans if s.outcome == "ok")


async def test_span_outcomes() -> None:
    tl = Timeline()
    async with asyncio.timeout(10), tl:
        async with tl.span("fine"):
            await asyncio.sleep(0)
        with pytest.raises(KeyError):
            async with tl.span("raises"):
                raise KeyError("x")

        async def victim() -> None:
            async with tl.span("cancelled"):
                await asyncio.sleep(10)

        task = asyncio.create_task(victim())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with tl.span("sync"):
            pass
    assert {s.name: s.outcome for s in tl.spans} == {"fine": "ok", "raises": "error", "cancelled": "cancelled",
                                                     "sync": "ok"}


async def test_factory_is_restored_and_chained() -> None:
    loop = asyncio.get_running_loop()
    calls: list[str] = []

    def previous(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        calls.append("previous")
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(previous)
    try:
        tl = Timeline(track_tasks=True)
        with pytest.raises(RuntimeError):
            async with asyncio.timeout(10), tl:
                await asyncio.create_task(asyncio.sleep(0.01), name="one")
                assert loop.get_task_factory() is not previous
                raise RuntimeError("body fails")
        assert loop.get_task_factory() is previous
        assert calls == ["previous"]
        assert [s.name for s in tl.spans] == ["one"]
    finally:
        loop.set_task_factory(None)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are new in 3.12")
async def test_eager_task_factory_is_chained() -> None:
    """Eager tasks run up to their first await inside create_task(); the timeline still sees them."""
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    try:
        sem = asyncio.Semaphore(LIMIT)
        tl = Timeline(track_tasks=True)

        async def fetch() -> None:
            async with tl.acquire(sem):
                await asyncio.sleep(WORK)

        async def instant() -> str:
            return "done"  # finishes inside create_task(), before it is named

        async with asyncio.timeout(10), tl:
            assert await asyncio.create_task(instant(), name="instant") == "done"
            async with asyncio.TaskGroup() as tg:
                for i in range(N_TASKS):
                    tg.create_task(fetch(), name=f"fetch {i}")
            await asyncio.sleep(0)  # done callbacks run
        assert loop.get_task_factory() is asyncio.eager_task_factory  # type: ignore[attr-defined]
        assert sorted(s.name for s in tl.spans) == sorted([*(f"fetch {i}" for i in range(N_TASKS)), "instant"])
        assert tl.max_concurrent() == LIMIT
        assert tl.outcomes()["ok"] == N_TASKS + 1
    finally:
        loop.set_task_factory(None)


async def test_only_tasks_created_inside_are_recorded() -> None:
    """A task that was running before (like the kernel's own) is not the learner's: not recorded."""
    go = asyncio.Event()
    made: list[asyncio.Task[Any]] = []

    async def outsider() -> None:
        await go.wait()
        made.append(asyncio.create_task(asyncio.sleep(0), name="outsider's child"))

    background = asyncio.create_task(outsider())
    tl = Timeline(track_tasks=True)
    async with asyncio.timeout(10), tl:
        go.set()
        await asyncio.sleep(0.01)
        await asyncio.create_task(asyncio.sleep(0), name="mine")
    await background
    await asyncio.gather(*made)
    assert [s.name for s in tl.spans] == ["mine"]


async def test_tracked_tasks_keep_their_identity() -> None:
    """Reprs and get_coro() still name the learner's coroutine, not a wrapper."""

    async def learner_function() -> int:
        await asyncio.sleep(0)
        return 42

    async with asyncio.timeout(10), Timeline(track_tasks=True):
        task = asyncio.create_task(learner_function())
        assert "learner_function" in repr(task)
        assert await task == 42


def test_plot_draws_one_bar_per_span() -> None:
    tl = Timeline()
    with tl.span("a"):
        pass
    with pytest.raises(ZeroDivisionError), tl.span("b"):
        raise ZeroDivisionError
    fig = asynclab.plot_timeline(tl, title="two spans")  # instruments never import display: no tl.plot()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_title(loc="left") == "two spans"
    assert "(s)" in ax.get_xlabel()
