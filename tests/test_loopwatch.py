"""The loop watch every check runs under, and the one re-measure policy (no lab needed)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from asynclab.grading.loopwatch import STALL, LoopWatch
from asynclab.grading.measure import remeasure
from asynclab.grading.registry import CheckFailed, fail

LEARNER = '''# Setup: nothing
import asyncio, time

# Exercise: 99-test
async def blocks():
    time.sleep(0.25)

async def awaits():
    await asyncio.sleep(0.25)

def runs_in_a_thread():
    time.sleep(0.25)
'''


def _learner(tmp_path: Path) -> tuple[dict[str, object], str, int]:
    path = tmp_path / "submission.py"
    path.write_text(LEARNER, encoding="utf-8")
    namespace: dict[str, object] = {}
    exec(compile(LEARNER, str(path), "exec"), namespace)  # noqa: S102 - the test's own code
    return namespace, str(path), LEARNER.split("\n").index("# Exercise: 99-test")


def test_a_learner_stall_is_seen_and_named(tmp_path: Path) -> None:
    ns, path, offset = _learner(tmp_path)

    async def main() -> LoopWatch:
        async with LoopWatch(path, offset) as watch:
            for _ in range(2):
                await ns["blocks"]()  # type: ignore[operator]
                await asyncio.sleep(0.05)
        return watch

    watch = asyncio.run(main())
    assert len(watch.stalls) == 2 and all(s.seconds >= STALL for s in watch.stalls) and watch.blocked
    failure = watch.verdict()
    assert failure.reason == "loop-blocked"
    assert "time.sleep(0.25)" in failure.summary and "line 3" in failure.summary
    assert "asyncio.sleep" in failure.hint  # blocking.classify's advice for time.sleep


def test_awaiting_threads_and_the_checks_own_stalls_are_not_the_learners(tmp_path: Path) -> None:
    ns, path, offset = _learner(tmp_path)

    async def main() -> LoopWatch:
        async with LoopWatch(path, offset) as watch:
            await ns["awaits"]()  # type: ignore[operator]
            await asyncio.to_thread(ns["runs_in_a_thread"])  # type: ignore[arg-type]
            time.sleep(0.25)  # the check's own machinery blocking its loop: not the learner's
        return watch

    watch = asyncio.run(main())
    assert watch.stalls == [] and not watch.blocked


def test_remeasure_measures_again_only_a_noisy_failure() -> None:
    calls: list[str] = []

    def judge_with(reasons: list[str]):
        def judge(n: int) -> str:
            reason = reasons[n - 1]
            if reason != "pass":
                raise fail(reason, reason)
            return "passed"
        return judge

    async def measure() -> int:
        calls.append("m")
        return len(calls)

    assert asyncio.run(remeasure(measure, judge_with(["too-slow", "pass"]))) == "passed"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(CheckFailed) as wrong:
        asyncio.run(remeasure(measure, judge_with(["wrong-result", "pass"])))
    assert wrong.value.reason == "wrong-result" and len(calls) == 1
    calls.clear()
    with pytest.raises(CheckFailed) as slow:
        asyncio.run(remeasure(measure, judge_with(["too-slow", "too-slow", "pass"])))
    assert slow.value.reason == "too-slow" and len(calls) == 2
    calls.clear()
    with pytest.raises(CheckFailed):
        asyncio.run(remeasure(measure, judge_with(["too-slow", "pass"]), time_left=lambda: 0.0))
    assert len(calls) == 1  # no time left for a second measurement
