"""A circuit breaker: stop calling a partner that keeps failing, and probe it back after a pause.

Closed: calls go through; `failures` failures in a row open it. Open: calls fail at once with
CircuitOpen (no request is sent) for `reset_after` seconds. Half-open: one call is let through
as a probe; its success closes the breaker, its failure opens it again. The course writes the
mechanism once so that a library's settings (threshold, recovery time) mean something.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class CircuitOpen(Exception):
    """Raised instead of calling a partner that the breaker considers down."""


class CircuitBreaker:
    def __init__(self, failures: int = 3, reset_after: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.reset_after, self.clock = failures, reset_after, clock
        self.state = "closed"
        self.failed_in_a_row = 0
        self.opened_at = 0.0
        self._probe = asyncio.Lock()  # one probe at a time while half-open

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` unless the breaker is open; count its outcome (an Exception is a failure)."""
        if self.state == "open":
            if self.clock() - self.opened_at < self.reset_after or self._probe.locked():
                raise CircuitOpen(f"partner down: {self.failed_in_a_row} failures in a row")
            self.state = "half-open"
        if self.state == "half-open":
            if self._probe.locked():
                raise CircuitOpen("partner down: a probe is under way")
            async with self._probe:
                return await self._counted(fn)
        return await self._counted(fn)

    async def _counted(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await fn()
        except Exception:
            self.failed_in_a_row += 1
            if self.state == "half-open" or self.failed_in_a_row >= self.failures:
                self.state, self.opened_at = "open", self.clock()
            raise
        self.state, self.failed_in_a_row = "closed", 0
        return result
