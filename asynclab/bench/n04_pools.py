"""Notebook 04 · Connection pools: `04-api-client` and `04-user-repo`, pool against one-per-call.

Rows
- 04-api-client, 500 concurrent `get_json` calls on /delay (MS ms) through
  `ApiClient(url, max_connections=10)`: wall time (ideal ceil(500 / 10) × MS: ten connections,
  each busy all the time) and TCP connections the server accepted (ideal 10, the pool size).
  The broken starter opens a client, hence a connection and an SSL context, per call.
- 04-user-repo, 2,000 `get_user` calls, 50 at a time, through `UserRepo(dsn, max_size=5)`: wall
  time (ideal: the same 200 lookups one after another on one connection that is already open,
  i.e. what the queries themselves cost) and PostgreSQL sessions opened, counted by the server
  (`pg_stat_database.sessions`; ideal 5, the pool size). The broken starter connects per lookup.
  50 at a time, not all at once: past 100 the starter's connections pass the server's
  max_connections (100) and lookups fail with "too many clients", which would make its wall time
  meaningless. 2,000 lookups, not 200: a pooled lookup costs tens of microseconds, and at 200 the
  whole row took 5-45 ms, too short to measure on a shared machine.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import asyncpg

from ..lab import Lab
from .cells import NotAvailable, load_pair
from .common import settle
from .report import Row, Skip, Target

TITLE = "04 pools"
DEADLINE = 120
NOTEBOOK = "04"
API_CALLS, API_POOL, API_MS = 500, 10, 100
REPO_CALLS, REPO_CALLERS, REPO_POOL = 2000, 50, 5
REPEATS = 3  # best of 3: noise on a shared machine only adds time
REPO_SQL = "SELECT id, name, email, tier FROM users WHERE id = $1"  # what both UserRepo variants run
SAFETY = 90  # seconds: the broken variants are slow, but never this slow


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    async for item in _api_client(lab, quick):
        yield item
    async for item in _user_repo(lab, quick):
        yield item


async def _api_client(lab: Lab, quick: bool) -> AsyncIterator[Row | Skip]:
    exercise = "04-api-client"
    try:
        variants = load_pair(NOTEBOOK, exercise)
    except NotAvailable as exc:
        yield Skip(f"{exercise} rows", str(exc))
        return
    calls = 50 if quick else API_CALLS
    ideal = math.ceil(calls / API_POOL) * API_MS / 1000
    wall_name = f"{exercise}: wall time, {calls} concurrent calls of {API_MS} ms"
    conn_name = f"{exercise}: TCP connections opened for {calls} calls"
    measured: dict[str, tuple[float, dict[str, int], int]] = {}
    for variant, module in variants.items():
        api = lab.api.scoped()
        async with asyncio.timeout(SAFETY):
            async with module.ApiClient(api.url, max_connections=API_POOL) as c:
                settle()
                started = time.perf_counter()
                results = await asyncio.gather(*(c.get_json(f"/delay?ms={API_MS}&id={i}") for i in range(calls)),
                                               return_exceptions=True)
                seconds = time.perf_counter() - started
        errors = sum(isinstance(r, BaseException) for r in results)
        stats = await api.stats()
        measured[variant] = (seconds, stats, errors)

    fixed_s, fixed_stats, fixed_errors = measured["fixed"]
    broken_s, broken_stats, broken_errors = measured["broken"]
    fixed_wall = Row(wall_name, "fixed", fixed_s, ideal, "s", target=Target.within(1.3),
                     note=f"one shared client, pool of {API_POOL}; {fixed_errors} errors; "
                          f"ideal = ceil({calls}/{API_POOL}) × {API_MS} ms")
    yield fixed_wall
    yield Row(wall_name, "broken", broken_s, ideal, "s",
              note=f"a client per call; {broken_errors} errors; peak {broken_stats['peak_in_flight']} in flight",
              ).against(fixed_wall)
    fixed_conn = Row(conn_name, "fixed", fixed_stats["connections"], API_POOL, "connections", target=Target.within(1.3),
                     note=f"counted by the server; peak {fixed_stats['peak_in_flight']} in flight")
    yield fixed_conn
    yield Row(conn_name, "broken", broken_stats["connections"], API_POOL, "connections", target=Target.worse(5),
              note="counted by the server: one per call").against(fixed_conn)


async def _sessions(admin: asyncpg.Connection) -> int:
    await admin.execute("SELECT pg_stat_clear_snapshot()")  # else the stats are a snapshot per transaction
    return int(await admin.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"))


async def _user_repo(lab: Lab, quick: bool) -> AsyncIterator[Row | Skip]:
    exercise = "04-user-repo"
    try:
        variants = load_pair(NOTEBOOK, exercise)
    except NotAvailable as exc:
        yield Skip(f"{exercise} rows", str(exc))
        return
    calls = 20 if quick else REPO_CALLS
    ids = [1 + i % 1000 for i in range(calls)]
    admin = await asyncpg.connect(lab.pg.dsn)
    try:
        # The ideal: the same lookups, one after another, on one connection already open (best of 3:
        # it is a floor, and noise only adds to it).
        await admin.fetchrow(REPO_SQL, 1)  # prepare the statement once, as a pool's connection would
        ideal = float("inf")
        for _ in range(REPEATS):
            settle()
            started = time.perf_counter()
            for i in ids:
                await admin.fetchrow(REPO_SQL, i)
            ideal = min(ideal, time.perf_counter() - started)

        measured: dict[str, tuple[float, int, int]] = {}
        for variant, module in variants.items():
            async with asyncio.timeout(SAFETY):
                before = await _sessions(admin)
                async with module.UserRepo(lab.pg.dsn, max_size=REPO_POOL) as repo:
                    callers = asyncio.Semaphore(REPO_CALLERS)

                    async def lookup(user_id: int, repo: object = repo, callers: asyncio.Semaphore = callers) -> object:
                        async with callers:
                            return await repo.get_user(user_id)  # type: ignore[attr-defined]

                    # A pool lives as long as the service: open it with one round first (untimed),
                    # then time the steady state. The starter has nothing to open: a connect per call.
                    await asyncio.gather(*(lookup(i) for i in ids[:REPO_CALLERS]), return_exceptions=True)
                    best, errors = float("inf"), 0
                    for _ in range(REPEATS):
                        settle()
                        started = time.perf_counter()
                        results = await asyncio.gather(*(lookup(i) for i in ids), return_exceptions=True)
                        best = min(best, time.perf_counter() - started)
                        errors += sum(isinstance(r, BaseException) for r in results)
                opened = await _sessions(admin) - before
            measured[variant] = (best, opened, errors)
    finally:
        await admin.close()

    wall_name = f"{exercise}: wall time, {calls} lookups, {REPO_CALLERS} at a time"
    lookups = REPO_CALLERS + REPEATS * calls
    conn_name = f"{exercise}: PostgreSQL sessions opened for {lookups} lookups"
    (fixed_s, fixed_opened, fixed_errors), (broken_s, broken_opened, broken_errors) = measured["fixed"], measured["broken"]
    fixed_wall = Row(wall_name, "fixed", fixed_s, ideal, "s", target=Target.within(1.3),
                     note=f"asyncpg pool of {REPO_POOL}, opened before timing; best of {REPEATS}; {fixed_errors} errors; "
                          "ideal = the same lookups one after another on one open connection (best of 3)")
    yield fixed_wall
    yield Row(wall_name, "broken", broken_s, ideal, "s",
              note=f"a connection per lookup; best of {REPEATS}; {broken_errors} errors").against(fixed_wall)
    fixed_conn = Row(conn_name, "fixed", fixed_opened, REPO_POOL, "sessions", target=Target.within(1.3),
                     note=f"pg_stat_database.sessions, before and after: a warm-up round of {REPO_CALLERS} "
                          f"and {REPEATS} timed rounds")
    yield fixed_conn
    yield Row(conn_name, "broken", broken_opened, REPO_POOL, "sessions", target=Target.worse(5),
              note="pg_stat_database.sessions: one per lookup").against(fixed_conn)
