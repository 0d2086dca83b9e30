"""LoopMonitor: a blocking call shows as one stall of about its length; awaiting shows none.

Every assertion is a ratio of the blocking time or a share of heartbeats, so it holds on a
loaded 2-core machine: absolute milliseconds would not.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from asynclab import LoopMonitor

BLOCK = 0.3
INTERVAL = 0.01
pytestmark = pytest.mark.anyio


def significant(m: LoopMonitor, block: float = BLOCK) -> list[float]:
    """Stalls of at least a third of the block: scheduler noise on a busy box stays below that."""
    return [s.duration for s in m.stalls if s.duration >= block / 3]


async def test_time_sleep_is_one_stall_of_about_its_length() -> None:
    async with asyncio.timeout(10):
        async with LoopMonitor(interval=INTERVAL) as m:
            await asyncio.sleep(0.1)
            time.sleep(BLOCK)
            await asyncio.sleep(0.1)
    stalls = significant(m)
    assert len(stalls) == 1, m.stalls
    assert 0.8 * BLOCK <= stalls[0] <= 2 * BLOCK, m.summary()
    assert 0.8 * BLOCK <= m.longest_stall <= 2 * BLOCK
    # About BLOCK / INTERVAL heartbeats could not run.
    assert m.missed_ticks >= 0.7 * BLOCK / INTERVAL, m.summary()
    assert m.blocked_share >= 0.5 * BLOCK / m.elapsed


async def test_await_asyncio_sleep_is_no_stall() -> None:
    async with asyncio.timeout(10):
        async with LoopMonitor(interval=INTERVAL) as m:
            await asyncio.sleep(BLOCK)
    assert significant(m) == [], m.stalls
    assert m.missed_share < 0.25, m.summary()
    assert m.ticks >= 0.75 * m.expected_ticks
    assert m.expected_ticks == pytest.approx(BLOCK / INTERVAL, rel=0.5)


async def test_a_block_at_the_very_end_still_counts() -> None:
    """No heartbeat can run between the block and the exit: the exit closes the gap itself."""
    async with asyncio.timeout(10):
        async with LoopMonitor(interval=INTERVAL) as m:
            time.sleep(BLOCK)
    assert m.ticks <= 2
    assert len(significant(m)) == 1
    assert m.missed_share > 0.8
    assert 0.8 * BLOCK <= m.longest_stall <= 2 * BLOCK


async def test_a_thread_sees_the_stall_grow_while_the_loop_is_blocked() -> None:
    seen: list[tuple[float, float, int]] = []
    stop = threading.Event()

    def watchdog(m: LoopMonitor) -> None:
        while not stop.wait(0.05):
            seen.append((m.blocked_for(), m.last_tick, len(m.stalls)))

    async with asyncio.timeout(10):
        async with LoopMonitor(interval=INTERVAL) as m:
            await asyncio.sleep(0.05)
            thread = threading.Thread(target=watchdog, args=(m,))
            thread.start()
            try:
                time.sleep(0.5)
            finally:
                stop.set()
                thread.join(5)
    peak = max(b for b, _, _ in seen)
    assert peak >= 0.5 * 0.5, seen  # the live reading climbed to most of the block
    blocked = [s for s in seen if s[0] > 0.1]
    assert len({last for _, last, _ in blocked}) == 1, "no heartbeat may run during the block"
    assert any(n >= 1 for _, _, n in blocked), "an ongoing stall is listed while it lasts"


async def test_sections_compare_broken_and_fixed() -> None:
    async with asyncio.timeout(10):
        async with LoopMonitor(interval=INTERVAL) as m:
            with m.section("broken") as broken:
                time.sleep(0.2)
            with m.section("fixed"):
                await asyncio.sleep(0.2)
    assert m.sections["broken"] is broken
    assert broken.missed_share > 0.7 and 0.8 * 0.2 <= broken.longest_stall <= 2 * 0.2
    fixed = m.sections["fixed"]
    assert fixed.missed_share < 0.3 and fixed.longest_stall < 0.2 / 3


async def test_summary_is_one_readable_line() -> None:
    async with asyncio.timeout(10):
        async with LoopMonitor(interval=INTERVAL) as m:
            time.sleep(0.1)
    line = m.summary()
    assert "\n" not in line
    assert re.fullmatch(r"loop blocked \d+\.\d\d s of \d+\.\d\d s \(\d+%\); longest stall \d+\.\d\d s; "
                        r"\d+ of \d+ heartbeats ran", line), line


async def test_lags_and_lifecycle() -> None:
    m = LoopMonitor(interval=INTERVAL)
    assert not m.running and m.elapsed == 0 and m.missed_share == 0
    m.start()
    with pytest.raises(RuntimeError):
        m.start()
    await asyncio.sleep(0.1)
    time.sleep(0.1)
    await asyncio.sleep(0.05)
    m.stop()
    m.stop()  # idempotent
    frozen = m.elapsed
    await asyncio.sleep(0.05)
    assert m.elapsed == frozen, "readings freeze at stop()"
    times = [t for t, _ in m.lags]
    assert times == sorted(times) and len(times) >= m.ticks
    assert max(lag for _, lag in m.lags) == pytest.approx(m.longest_stall)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LoopMonitor(interval=0)
