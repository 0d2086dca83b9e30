"""LoopMonitor: a heartbeat on the running event loop, to *prove* a stall with numbers.

A callback is scheduled on a fixed grid (start + k × interval). While the loop is free, every
grid point gets its heartbeat a moment after it is due; while something blocks the loop, no
heartbeat runs, and the gap shows up as missed ticks and as one long stall. Everything is judged
against the interval and the elapsed time (tick counts, shares), never against absolute
milliseconds, so the same thresholds hold on a fast laptop and on a noisy 2-core CI box.

    async with LoopMonitor(interval=0.01) as m:
        await do_work()
    print(m.summary())   # loop blocked 1.52 s of 1.60 s (95%); longest stall 1.50 s; 8 of 160 heartbeats ran

All properties can be read live, also from another thread (the meter's watchdog does that); the
heartbeat writes plain attributes and appends to arrays, which is safe under the GIL.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

__all__ = ["LoopMonitor", "SectionStats", "Stall"]


class Stall(NamedTuple):
    """One stretch in which the heartbeat could not run: `start` is seconds after the monitor
    started (when the heartbeat was due), `duration` how late it ran (gap minus interval)."""

    start: float
    duration: float


class _TickCounts:
    """The counts and shares every report uses, for the whole run and for its sections alike,
    so the two always agree. Subclasses provide `interval`, `elapsed`, `ticks` and `stalls`."""

    interval: float

    if TYPE_CHECKING:  # what the subclasses provide (a property in one, a dataclass field in the other)
        @property
        def elapsed(self) -> float: ...
        @property
        def ticks(self) -> int: ...
        @property
        def stalls(self) -> list[Stall]: ...

    @property
    def expected_ticks(self) -> int:
        """Heartbeats a free loop would have run in the elapsed time."""
        return int(self.elapsed / self.interval)

    @property
    def missed_ticks(self) -> int:
        return max(0, self.expected_ticks - self.ticks)

    @property
    def missed_share(self) -> float:
        """Share of expected heartbeats that never ran, 0..1."""
        expected = self.expected_ticks
        return self.missed_ticks / expected if expected else 0.0

    @property
    def blocked_share(self) -> float:
        """Time spent in stalls over the elapsed time, 0..1."""
        elapsed = self.elapsed
        if elapsed <= 0:
            return 0.0
        return min(1.0, sum(s.duration for s in self.stalls) / elapsed)


@dataclass
class SectionStats(_TickCounts):
    """Tick counts for one named part of the monitored code (see `LoopMonitor.section`)."""

    name: str
    interval: float
    start: float = 0.0
    end: float | None = None
    ticks: int = 0
    stalls: list[Stall] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return (self.end if self.end is not None else self.start) - self.start

    @property
    def longest_stall(self) -> float:
        return max((s.duration for s in self.stalls), default=0.0)


class LoopMonitor(_TickCounts):
    """Heartbeat ticks on the running loop; counts what ran, what was missed and how long it stalled.

    `interval` is the heartbeat period (s). A gap between heartbeats longer than
    `interval + stall_threshold` (default 5 × interval) is recorded as a stall.
    Use it as `async with`, or call `start()` / `stop()` from code running on the loop.
    """

    def __init__(self, interval: float = 0.01, *, stall_threshold: float | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = float(interval)
        self.stall_threshold = float(stall_threshold) if stall_threshold is not None else 5 * self.interval
        self.sections: dict[str, SectionStats] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._clock_offset = 0.0  # loop.time() - time.monotonic()
        self._t0: float | None = None
        self._t_end: float | None = None
        self._ticks = 0
        self._stalls: list[Stall] = []
        self._lag_t = array("d")
        self._lag_v = array("d")
        self._max_lag = 0.0
        self._open_sections: list[SectionStats] = []
        #: time.monotonic() of the latest heartbeat (or of the start); a watchdog thread reads it.
        self.last_tick = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LoopMonitor:
        """Start ticking on the running loop (must be called from code running on it)."""
        if self._t0 is not None:
            raise RuntimeError("a LoopMonitor can be started only once; create a new one")
        self._loop = asyncio.get_running_loop()
        self._clock_offset = self._loop.time() - time.monotonic()
        now = time.monotonic()
        self._t0 = self.last_tick = now
        self._schedule(now + self.interval)
        return self

    def stop(self) -> LoopMonitor:
        """Stop ticking; the time since the last heartbeat counts as a stall if it was long enough.

        That last gap matters: in `async with m: time.sleep(1)` no heartbeat can run at all
        before the block ends, so without it the stall would go unseen.
        """
        if self._t0 is None or self._t_end is not None:
            return self
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        now = time.monotonic()
        self._close_gap(now)
        self._t_end = now
        return self

    async def __aenter__(self) -> LoopMonitor:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._t0 is not None and self._t_end is None

    # -- heartbeat -------------------------------------------------------------------------
    def _schedule(self, due: float) -> None:
        assert self._loop is not None
        self._handle = self._loop.call_at(due + self._clock_offset, self._beat)

    def _beat(self) -> None:
        now = time.monotonic()
        self._close_gap(now)
        self._ticks += 1
        for section in self._open_sections:
            section.ticks += 1
        self.last_tick = now
        assert self._t0 is not None
        # Next point of the grid strictly after now: missed points are skipped, never caught up.
        k = math.floor((now - self._t0) / self.interval) + 1
        self._schedule(self._t0 + k * self.interval)

    def _close_gap(self, now: float) -> None:
        """Record the lag of a heartbeat (or of the stop) that arrives at `now`."""
        assert self._t0 is not None
        lag = max(0.0, now - self.last_tick - self.interval)
        self._lag_t.append(now - self._t0)
        self._lag_v.append(lag)
        self._max_lag = max(self._max_lag, lag)
        if lag >= self.stall_threshold:
            self._stalls.append(Stall(self.last_tick + self.interval - self._t0, lag))
        for section in self._open_sections:
            self._add_section_stall(section, now)

    def _add_section_stall(self, section: SectionStats, now: float) -> None:
        """A stall counts for a section only from the moment the section began."""
        assert self._t0 is not None
        began = max(self.last_tick + self.interval, section.start)
        if now - began >= self.stall_threshold:
            section.stalls.append(Stall(began - self._t0, now - began))

    # -- live readings ---------------------------------------------------------------------
    def _now(self) -> float:
        if self._t0 is None:
            return 0.0
        return self._t_end if self._t_end is not None else time.monotonic()

    def blocked_for(self) -> float:
        """Seconds since the last heartbeat beyond the interval: how long the loop is stuck *now*."""
        if not self.running:
            return 0.0
        return max(0.0, time.monotonic() - self.last_tick - self.interval)

    def _ongoing(self) -> float:
        stuck = self.blocked_for()
        return stuck if stuck >= self.stall_threshold else 0.0

    @property
    def elapsed(self) -> float:
        return self._now() - self._t0 if self._t0 is not None else 0.0

    @property
    def ticks(self) -> int:
        """Heartbeats that ran."""
        return self._ticks

    @property
    def stalls(self) -> list[Stall]:
        """Stalls longer than `stall_threshold`, in order, including one still going on."""
        stalls = list(self._stalls)
        ongoing = self._ongoing()
        if ongoing:
            stalls.append(Stall(self.last_tick + self.interval - (self._t0 or 0.0), ongoing))
        return stalls

    @property
    def longest_stall(self) -> float:
        """The longest gap between heartbeats minus the interval (s), recorded or ongoing."""
        return max(self._max_lag, self.blocked_for())

    @property
    def blocked_time(self) -> float:
        return sum(s.duration for s in self.stalls)

    @property
    def lags(self) -> list[tuple[float, float]]:
        """(seconds since start, lag in seconds) for every heartbeat, and for the stop."""
        n = min(len(self._lag_t), len(self._lag_v))
        return list(zip(self._lag_t[:n], self._lag_v[:n], strict=True))

    def recent_lag(self, window: float = 0.5) -> float:
        """The largest heartbeat lag in the last `window` seconds (for a live display)."""
        if self._t0 is None:
            return 0.0
        cutoff = self._now() - self._t0 - window
        times, values = self._lag_t, self._lag_v
        worst = 0.0
        i = min(len(times), len(values)) - 1
        while i >= 0 and times[i] >= cutoff:
            worst = max(worst, values[i])
            i -= 1
        return worst

    # -- sections and summary --------------------------------------------------------------
    @contextmanager
    def section(self, name: str) -> Iterator[SectionStats]:
        """Count the heartbeats of one part of the monitored code: `with m.section("fixed"): ...`.

        The stats land in `m.sections[name]` too, so a demo can compare "broken" and "fixed".
        """
        if not self.running:
            raise RuntimeError("LoopMonitor.section() needs a running monitor")
        stats = SectionStats(name, self.interval, start=time.monotonic())
        self.sections[name] = stats
        self._open_sections.append(stats)
        try:
            yield stats
        finally:
            now = time.monotonic()
            if self.running:  # the section may end inside a stall no heartbeat has closed yet
                self._add_section_stall(stats, now)
            stats.end = now
            self._open_sections.remove(stats)

    def summary(self) -> str:
        """One line a learner can read: how long the loop was blocked, and how many heartbeats ran."""
        elapsed = self.elapsed
        share = self.blocked_share
        return (f"loop blocked {self.blocked_time:.2f} s of {elapsed:.2f} s ({share:.0%}); "
                f"longest stall {self.longest_stall:.2f} s; "
                f"{min(self.ticks, self.expected_ticks)} of {self.expected_ticks} heartbeats ran")

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._t_end is not None else "not started")
        return f"<LoopMonitor {state} interval={self.interval} {self.summary()}>"
