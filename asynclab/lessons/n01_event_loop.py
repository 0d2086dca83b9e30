"""CPU workloads for notebook 01 · The event loop is not a thread pool.

They live in an importable module, not in a notebook cell, because a process pool sends a
function to its workers *by name*: the worker imports `asynclab.lessons.n01_event_loop` and
looks the function up. Under the "spawn" start method (the default on macOS and Windows, and
what the notebook uses everywhere) a function defined in a notebook cell cannot be found that way.

    hash_password("hunter2")        # ~30 ms of C code that releases the GIL (hashlib)
    count_primes(PRIMES_LIMIT)      # ~0.1 s of pure Python that holds the GIL throughout

and one piece of plumbing for the demos, `serve(handler, n)`: n "requests" arrive at once, like
a server under load, and each one's latency (arrival to answer) is measured.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..instruments.timeline import Timeline

__all__ = ["ITERATIONS", "PRIMES_LIMIT", "SALT", "count_primes", "hash_password", "hash_passwords_inline", "pid",
           "quiet_worker", "serve"]

SALT = b"asynclab-01-salt"  # fixed, so every run (and the grader's reference) gets the same hashes
ITERATIONS = 100_000        # PBKDF2 rounds: about 30 ms per password on a 2020s laptop core
PRIMES_LIMIT = 150_000      # count_primes(PRIMES_LIMIT): about 0.1 s of pure Python


def hash_password(password: str) -> str:
    """PBKDF2-HMAC-SHA256 of `password` as hex. CPU-heavy, and hashlib releases the GIL while it runs."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, ITERATIONS).hex()


def hash_passwords_inline(passwords: list[str]) -> list[str]:
    """The reference: every password hashed one after another, in the calling thread."""
    return [hash_password(p) for p in passwords]


def count_primes(limit: int) -> int:
    """How many primes are below `limit`, by trial division: pure Python, holds the GIL all along."""
    count = 0
    for n in range(2, limit):
        if n % 2 == 0 and n != 2:
            continue
        d = 3
        prime = True
        while d * d <= n:
            if n % d == 0:
                prime = False
                break
            d += 2
        count += prime
    return count


def pid(_: object = None) -> int:
    """The id of the process that runs this: tells a pool worker from the kernel."""
    return os.getpid()


def quiet_worker() -> None:
    """A process pool `initializer`: send the worker's stderr to the null device.

    A worker that dies prints its traceback to stderr, which it shares with the kernel, so the
    traceback would land in whatever cell runs at that moment. The notebook shows the failure
    through the exception the pool raises instead.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker


async def serve(handler: Callable[[int], Awaitable[Any]], n: int, timeline: Timeline | None = None) -> list[float]:
    """Send `n` requests to `handler(i)` at once, the way a server hands each one a coroutine.

    Returns each request's latency in seconds, from the moment all of them arrived to its answer.
    With a Timeline, each request is drawn as a bar from its arrival: the part spent before its
    handler first ran is drawn as "waiting", so a queue looks like a staircase.
    """
    arrived = time.monotonic()
    arrived_on_timeline = timeline.now() if timeline is not None else 0.0  # one arrival time for all
    width = len(str(n - 1))  # "request 07": names sort in arrival order

    async def one(i: int) -> float:
        if timeline is None:
            await handler(i)
            return time.monotonic() - arrived
        from ..instruments.timeline import Wait

        async with timeline.span(f"request {i:0{width}d}") as span:
            if span.start - arrived_on_timeline > 0.001:  # it waited before its handler first ran
                span.waits.append(Wait(arrived_on_timeline, span.start, "waiting for the loop"))
            span.start = arrived_on_timeline
            await handler(i)
        return time.monotonic() - arrived

    return list(await asyncio.gather(*(one(i) for i in range(n))))
