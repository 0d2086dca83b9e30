"""What a partner saw from one client: its requests, timed, and the peak load in any window.

The lab API counts requests per scope; the *peak* (most requests in any 100 ms) needs the time
of each request, which an httpx request hook records on the client's side of the same socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Traffic:
    """Request times (perf_counter seconds) and outcomes of one run."""

    sent: list[float] = field(default_factory=list)
    successes: int = 0
    failures: int = 0
    seconds: float = 0.0

    async def record(self, request: httpx.Request) -> None:  # an httpx "request" event hook
        self.sent.append(time.perf_counter())

    def peak(self, window: float = 0.1) -> int:
        """Most requests sent in any `window` seconds."""
        times, best, lo = sorted(self.sent), 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] > window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def within(self, seconds: float) -> int:
        """Requests sent in the first `seconds` after the first one (while a partner was down)."""
        return sum(t - self.sent[0] < seconds for t in self.sent) if self.sent else 0

    @property
    def per_success(self) -> float:
        return len(self.sent) / max(self.successes, 1)

    def row(self, name: str, down: float | None = None) -> dict[str, object]:
        row: dict[str, object] = {"policy": name, "requests": len(self.sent), "successes": self.successes,
                                  "per success": round(self.per_success, 1)}
        if down is not None:
            row["sent while down"] = self.within(down)
        row["peak per 100 ms"] = self.peak()
        return row


async def storm(call: Callable[[httpx.AsyncClient], Awaitable[object]], callers: int, *,
                deadline: float) -> Traffic:
    """`callers` calls of `call(client)` at once, on a fresh client that records every request.

    A call that raises counts as a failure (the caller gave up or was refused); every call is
    bounded by `deadline`, so a policy that never gives up is stopped and counted as failed.
    """
    traffic = Traffic()
    async with httpx.AsyncClient(timeout=5, event_hooks={"request": [traffic.record]}) as client:

        async def one() -> None:
            try:
                async with asyncio.timeout(deadline):
                    await call(client)
            except Exception:
                traffic.failures += 1
            else:
                traffic.successes += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(callers)))
        traffic.seconds = time.perf_counter() - started
    return traffic
