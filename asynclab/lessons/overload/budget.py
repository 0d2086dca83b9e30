"""A retry budget: retries may add at most a share of the first attempts, for a whole process.

A per-call attempt limit still multiplies load by the number of attempts when a partner is down
for everyone; a budget shared by every caller caps the extra load at `ratio` (10%) of the calls,
plus a small `minimum` so that a lone caller can still retry a blip.
"""

from __future__ import annotations


class RetryBudget:
    """Count first attempts with `call()`; ask `spend()` before every retry (False: give up now)."""

    def __init__(self, ratio: float = 0.1, minimum: int = 3) -> None:
        if not 0 <= ratio <= 1 or minimum < 0:
            raise ValueError(f"ratio must be in [0, 1] and minimum >= 0, got {ratio=}, {minimum=}")
        self.ratio, self.minimum = ratio, minimum
        self.calls = 0
        self.retries = 0

    @property
    def allowed(self) -> float:
        """Retries allowed so far: `minimum + ratio x calls`."""
        return self.minimum + self.ratio * self.calls

    def call(self) -> None:
        """A first attempt: earns the budget `ratio` of a retry."""
        self.calls += 1

    def spend(self) -> bool:
        """Take one retry from the budget; False when it is used up (the caller must not retry)."""
        if self.retries + 1 > self.allowed:
            return False
        self.retries += 1
        return True

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio}, minimum={self.minimum}, calls={self.calls}, retries={self.retries})"
