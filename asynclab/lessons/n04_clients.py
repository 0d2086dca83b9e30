"""Three async HTTP clients under the same load: httpx, its maintained fork httpx2, aiohttp.

Notebook 04 teaches with httpx and tells learners what to run in production, with numbers.
Those numbers come from here, for the notebook cell and for `make bench` alike:

    runs = await compare_clients(lab.api, requests=1000, concurrency=50)
    runs["httpx"].rps, runs["httpx"].cpu_share, runs["httpx"].connections

`burst_connections` sends more requests at once than the default pool holds and returns the
connections the server accepted: the pool's keep-alive behaviour, without timing.
`kept_pool_cost` is the CPU a quiet request costs once a burst has left a pool full of idle
connections: what a pool's bookkeeping costs per connection it keeps.

Each client is used as most code uses it: one session, *default* limits (httpx and httpx2:
100 connections, 20 kept alive; aiohttp: 100 connections, all kept alive), `concurrency`
workers sharing it, each sending its next request as soon as the last one answered. The
server is the lab API (its own process), on a fresh counter scope per client, so
`connections` is what the server accepted from that client alone. `cpu_seconds` is this
process's CPU time over the run (time.process_time): the client's own cost, since the server
runs elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

__all__ = ["CLIENTS", "ClientRun", "burst_connections", "client_versions", "compare_clients", "kept_pool_cost",
           "run_client"]

CLIENTS = ("httpx", "httpx2", "aiohttp")
# The package whose version decides the pool's behaviour, for each client.
POOL_PACKAGE = {"httpx": "httpcore", "httpx2": "httpcore2", "aiohttp": "aiohttp"}


class _Scoped(Protocol):
    url: str

    async def stats(self) -> dict[str, Any]: ...


class _Api(Protocol):
    def scoped(self) -> _Scoped: ...


@dataclass(frozen=True)
class ClientRun:
    """One client's run: what the server counted and what it cost this process."""

    client: str
    pool_version: str  # httpcore's, httpcore2's or aiohttp's version
    requests: int
    concurrency: int
    seconds: float
    cpu_seconds: float
    connections: int  # TCP connections the server accepted
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second: 1.0 is one core busy all along (the client is the limit)."""
        return self.cpu_seconds / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests


def client_versions() -> dict[str, str | None]:
    """The installed version of each client's pool package (None: not installed)."""
    found: dict[str, str | None] = {}
    for client, package in POOL_PACKAGE.items():
        try:
            found[client] = version(package)
        except PackageNotFoundError:
            found[client] = None
    return found


@contextlib.asynccontextmanager
async def _session(client: str, pool: int | None = None) -> AsyncIterator[Callable[[str], Awaitable[int]]]:
    """`send(url) -> status`, through one session of `client`: its default limits, or `pool`
    connections, all of them kept alive."""
    if client in ("httpx", "httpx2"):
        lib = importlib.import_module(client)
        limits = {"limits": lib.Limits(max_connections=pool, max_keepalive_connections=pool)} if pool else {}
        async with lib.AsyncClient(timeout=30, trust_env=False, **limits) as http:
            async def send(url: str) -> int:
                return int((await http.get(url)).status_code)

            yield send
    elif client == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=pool) if pool else None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), trust_env=False,
                                         connector=connector) as http:
            async def send(url: str) -> int:
                async with http.get(url) as response:
                    await response.read()
                    return response.status

            yield send
    else:
        raise ValueError(f"client: one of {CLIENTS}, got {client!r}")


async def run_client(api: _Api, client: str, *, requests: int = 1000, concurrency: int = 50,
                     delay_ms: int = 0) -> ClientRun:
    """Send `requests` GETs to /delay?ms=`delay_ms` from `concurrency` workers through one `client` session."""
    scoped = api.scoped()
    url = f"{scoped.url}/delay?ms={delay_ms}"
    todo = iter(range(requests))
    errors = 0

    async def worker(send: Callable[[str], Awaitable[int]]) -> None:
        nonlocal errors
        for _ in todo:  # shared: each worker takes the next request
            try:
                if await send(url) != 200:
                    errors += 1
            except Exception:  # a failed request is counted, not raised: the run goes on
                errors += 1

    async with _session(client) as send:
        cpu, started = time.process_time(), time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(worker(send))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    stats = await scoped.stats()
    return ClientRun(client, client_versions()[client] or "?", requests, concurrency, seconds, cpu,
                     int(stats["connections"]), errors)


async def compare_clients(api: _Api, *, requests: int = 1000, concurrency: int = 50, delay_ms: int = 0,
                          clients: tuple[str, ...] = CLIENTS, rounds: int = 1) -> dict[str, ClientRun]:
    """Each client in turn, against the same server, in the same run; `rounds` times, taking turns.

    For each client, the round that cost it the least CPU: another process's work only ever adds
    to a run's CPU time (cache misses, a shared core), so the least is the client's own cost.
    """
    best: dict[str, ClientRun] = {}
    for _ in range(rounds):
        for client in clients:
            run = await run_client(api, client, requests=requests, concurrency=concurrency, delay_ms=delay_ms)
            if client not in best or run.cpu_seconds < best[client].cpu_seconds:
                best[client] = run
    return best


async def kept_pool_cost(api: _Api, client: str, *, pool: int, requests: int = 200, rounds: int = 2) -> float:
    """CPU milliseconds per request for `requests` sent one after another through a pool of
    `pool` connections, all kept alive and idle after a burst opened them (the least of `rounds`).

    One request at a time, so the idle connections are the same on every machine: the
    difference between pool sizes is the pool's bookkeeping per connection it keeps, not load.
    """
    scoped = api.scoped()
    costs = []
    for _ in range(rounds):
        async with _session(client, pool) as send:
            await asyncio.gather(*(send(f"{scoped.url}/delay?ms=100") for _ in range(pool)))  # opens `pool`
            cpu = time.process_time()
            for _ in range(requests):
                await send(f"{scoped.url}/delay?ms=0")
            costs.append((time.process_time() - cpu) * 1000 / requests)
    return min(costs)


async def burst_connections(api: _Api, client: str, *, requests: int = 200, delay_ms: int = 50) -> int:
    """TCP connections the server accepted for `requests` GETs sent all at once through one `client` session.

    More requests than the default pool's 100 connections, so most of them wait in the pool for
    a connection: a pool that reuses what it has opens 100, one that closes a connection
    each time a response ends opens about one per request.
    """
    scoped = api.scoped()
    async with _session(client) as send:
        statuses = await asyncio.gather(*(send(f"{scoped.url}/delay?ms={delay_ms}&id={i}") for i in range(requests)))
    if any(status != 200 for status in statuses):
        raise RuntimeError(f"{client}: {sum(s != 200 for s in statuses)} of {requests} answers were not 200")
    return int((await scoped.stats())["connections"])
