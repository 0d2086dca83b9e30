"""Lab-side code of notebook 08 (overload and retries): the fault-free helpers its demos import.

- burst: an open-loop burst against a service with a bounded partner, under three admission
  policies (a task per request, a queue with backpressure, a queue that sheds with 503);
- budget: RetryBudget, the process-wide cap on retries that 08-retry's signature takes;
- breaker: a small circuit breaker (closed, open, half-open), the mechanism written once;
- traffic: what a partner saw from a client (requests, peak per window), from request timestamps.
"""

from .breaker import CircuitBreaker, CircuitOpen
from .budget import RetryBudget
from .burst import BurstResult, run_burst
from .traffic import Traffic, storm

__all__ = ["BurstResult", "CircuitBreaker", "CircuitOpen", "RetryBudget", "Traffic", "run_burst", "storm"]
