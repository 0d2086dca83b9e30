"""Notebook 05 · Timeouts: how far past its deadline a call runs (ideal 0, bound 0.25 s).

Rows (overshoot = time from the call's start to its return or raise, minus its deadline)
- 05-deadline-fetch against /hang, with a client that has no timeout of its own (as in the
  check): the fix raises at the deadline; the starter would wait forever, so the bench stops
  it HANG_STOP s past the deadline, and its overshoot is a lower bound.
- 05-deadline-fetch against /trickle (one byte every 100 ms), with a client whose own read
  timeout is the deadline: every read arrives in time, so httpx never times out.
- 05-db-deadline, `SELECT pg_sleep(...)` longer than the deadline, through an asyncpg pool.
The broken variants run at the same time as each other (they only wait), after the fixed ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import asyncpg
import httpx

from ..lab import Lab
from .cells import NotAvailable, load_pair
from .common import client
from .report import Row, Skip, Target

TITLE = "05 timeouts"
DEADLINE = 45
NOTEBOOK = "05"
SECONDS = 0.5  # the deadline given to every call
HANG_STOP = 3.0  # how long past the deadline the bench lets a call that never returns wait
TRICKLE_BYTES, TRICKLE_EVERY_MS = 30, 100
SLEEP_S = 2.0
BOUND = 0.25


def _bind(run: Callable[[ModuleType], Awaitable[Any]], module: ModuleType) -> Callable[[], Awaitable[Any]]:
    """One case run against one variant, as a no-argument call (a loop's variables bound now)."""
    return lambda: run(module)


async def _overshoot(call: Callable[[], Awaitable[Any]], seconds: float) -> tuple[float, str]:
    """(seconds past the deadline, how it ended), stopping the call HANG_STOP s past it."""
    started = time.perf_counter()
    stop = asyncio.timeout(seconds + HANG_STOP)
    try:
        async with stop:
            await call()
        outcome = "returned"
    except Exception as exc:  # noqa: BLE001 - how it ended is what the row reports
        if stop.expired():
            outcome = f"still waiting when the bench stopped it {HANG_STOP:g} s past the deadline: a lower bound"
        else:
            outcome = f"raised {type(exc).__name__}"
    return time.perf_counter() - started - seconds, outcome


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    cases: list[tuple[str, str, Callable[[ModuleType], Awaitable[Any]]]] = []
    fetch: dict[str, ModuleType] = {}
    db: dict[str, ModuleType] = {}
    try:
        fetch = load_pair(NOTEBOOK, "05-deadline-fetch")
    except NotAvailable as exc:
        yield Skip("05-deadline-fetch rows", str(exc))
    try:
        db = load_pair(NOTEBOOK, "05-db-deadline")
    except NotAvailable as exc:
        yield Skip("05-db-deadline rows", str(exc))
    api = lab.api.scoped()
    trickle = f"{api.url}/trickle?bytes={TRICKLE_BYTES}&every_ms={TRICKLE_EVERY_MS}"
    sleep_s = 1.0 if quick else SLEEP_S

    # Clients are made before anything is timed (making one costs ~20 ms of CPU).
    no_timeout, read_timeout = client(timeout=httpx.Timeout(None)), client(timeout=httpx.Timeout(SECONDS))

    def fetch_case(url: str, http: httpx.AsyncClient) -> Callable[[ModuleType], Awaitable[Any]]:
        async def run(module: ModuleType) -> Any:
            return await module.fetch_with_deadline(http, url, SECONDS)
        return run

    pool: asyncpg.Pool | None = None

    async def db_case(module: ModuleType) -> Any:
        assert pool is not None
        return await module.query_with_deadline(pool, f"SELECT pg_sleep({sleep_s})", SECONDS)

    if fetch:
        cases.append(("05-deadline-fetch: overshoot past a 0.5 s deadline, /hang (client without timeout)", "fetch",
                      fetch_case(f"{api.url}/hang", no_timeout)))
        cases.append((f"05-deadline-fetch: overshoot past a 0.5 s deadline, /trickle ({TRICKLE_BYTES} bytes, "
                      f"one every {TRICKLE_EVERY_MS} ms)", "fetch", fetch_case(trickle, read_timeout)))
    if db:
        cases.append((f"05-db-deadline: overshoot past a 0.5 s deadline, pg_sleep({sleep_s:g})", "db", db_case))
    if not cases:
        return
    async with no_timeout, read_timeout, asyncpg.create_pool(lab.pg.dsn, min_size=2, max_size=2) as opened:
        pool = opened
        await read_timeout.get(f"{api.url}/delay?ms=0")  # open a connection of each client first
        await no_timeout.get(f"{api.url}/delay?ms=0")
        fixed_rows: dict[str, Row] = {}
        for name, kind, run in cases:  # fixed: one after another; each takes about the deadline
            module = (fetch if kind == "fetch" else db)["fixed"]
            over, outcome = await _overshoot(_bind(run, module), SECONDS)
            fixed_rows[name] = Row(name, "fixed", over, 0.0, "s", target=Target.under(BOUND), note=outcome)
            yield fixed_rows[name]
        broken = await asyncio.gather(*(
            _overshoot(_bind(run, (fetch if kind == "fetch" else db)["broken"]), SECONDS)
            for name, kind, run in cases))
        for (name, _, _), (over, outcome) in zip(cases, broken, strict=True):
            yield Row(name, "broken", over, 0.0, "s", note=outcome)
