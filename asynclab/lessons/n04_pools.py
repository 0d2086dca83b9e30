"""Helpers for notebook 04 (connection pools) and its checks: count what a client really opens.

Two questions the lesson keeps asking, answered from the outside, never from a library's
private attributes:

* How many PostgreSQL backends does *this* code hold right now? Tag its connections with an
  `application_name` in the DSN (`tagged_dsn`), then count them in `pg_stat_activity`, once
  (`count_backends`) or continuously while the code runs (`BackendSampler`).
* Which sockets does this process still hold to the HTTP API (`open_sockets_to`)? (Which
  `httpx.AsyncClient` objects were made and never closed: grading/measure.client_constructions.)

    async with BackendSampler(lab.pg.dsn, "repo-1") as sampler:
        await asyncio.gather(*(repo.get_user(i) for i in range(200)))
    sampler.peak        # most backends tagged "repo-1" seen at once
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["BackendSampler", "count_backends", "open_sockets_to", "per_call_seconds",
           "tagged_dsn", "unique_tag", "wait_for_backends"]

CHECKER_APP = "asynclab-check"  # application_name of the connection that does the counting


def unique_tag(prefix: str = "nb04") -> str:
    """A fresh name, safe as an application_name and as an SQL identifier: `nb04_3f9a1c2b`."""
    return f"{prefix}_{secrets.token_hex(4)}"


def tagged_dsn(dsn: str, application_name: str, **settings: str) -> str:
    """`dsn` with an application_name (and optional server settings, e.g. search_path).

    asyncpg and psycopg both read `application_name` and `options` from the DSN's query;
    asyncpg ignores the PGAPPNAME environment variable, so the DSN is the one place both honour.
    """
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in {"application_name", "options"}]
    query.append(("application_name", application_name))
    if settings:
        query.append(("options", " ".join(f"-c {name}={value}" for name, value in settings.items())))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))  # %20, not '+': libpq wants it


async def count_backends(conn: Any, application_name: str) -> int:
    """How many server processes (backends) serve connections tagged `application_name` now.

    `conn` is an asyncpg connection that is *not* inside a transaction: pg_stat_activity is
    a snapshot taken once per transaction, so inside one the count would never change.
    """
    value = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                                application_name)
    return int(value)


async def wait_for_backends(conn: Any, application_name: str, *, at_most: int, timeout: float) -> int:
    """Poll until at most `at_most` backends carry the tag, or `timeout` passes; return the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = await count_backends(conn, application_name)
        if n <= at_most or time.monotonic() >= deadline:
            return n
        await asyncio.sleep(0.02)


class BackendSampler:
    """Count the backends tagged `application_name` again and again while a block runs.

    `peak` is the most seen at once, `pids` every backend process seen, `samples` how many
    counts were taken. It uses a connection of its own (tagged `asynclab-check`), so it never
    counts itself.
    """

    def __init__(self, dsn: str, application_name: str, *, every: float = 0.005) -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.every = every
        self.peak = 0
        self.samples = 0
        self.pids: set[int] = set()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BackendSampler:
        import asyncpg

        self._conn = await asyncpg.connect(tagged_dsn(self.dsn, CHECKER_APP))
        await self.sample()
        self._task = asyncio.create_task(self._run(), name="backend-sampler")
        return self

    async def sample(self) -> int:
        """Take one count now (also usable between blocks)."""
        rows = await self._conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                                      self.application_name)
        self.samples += 1
        self.pids.update(r["pid"] for r in rows)
        self.peak = max(self.peak, len(rows))
        return len(rows)

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.every)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            await self.sample()  # one last look, after the block
        finally:
            await self._conn.close()


def open_sockets_to(port: int) -> int:
    """TCP sockets this process holds to 127.0.0.1:`port` right now (any state but closed)."""
    import psutil

    count = 0
    for conn in psutil.Process().net_connections(kind="tcp"):
        raddr = conn.raddr
        if raddr and raddr.port == port and conn.status != psutil.CONN_CLOSE:
            count += 1
    return count


def per_call_seconds(fn: Any, *, number: int = 5, repeat: int = 5) -> float:
    """The fastest of `repeat` batches of `number` calls, per call: noise only ever adds time."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best
