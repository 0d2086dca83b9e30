"""One lab per process: `lab = await asynclab.start()` finds or starts the course's services.

    lab = await asynclab.start()    # the same Lab on every call in this process
    lab.api.url, lab.pg.dsn
    await asynclab.stop()           # optional: what this process started also stops at exit

Addresses, in order of preference: `DATABASE_URL` (PostgreSQL only), then `ASYNCLAB_API_URL`
and `ASYNCLAB_PG_DSN` (exported by the test session and by a kernel for its graders), then
freshly started services. Once started, the addresses are exported into `os.environ`, so a
grader subprocess reuses this process's servers instead of starting its own.

The blocking work runs in a thread (`asyncio.to_thread`): the notebook's loop keeps ticking
while a service starts, and a threading lock, not an asyncio one, makes concurrent callers on
any loop, or none, share one start.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ServiceStartError
from .services.api_client import ApiHandle, start_api, wait_until_healthy

if TYPE_CHECKING:
    from .services.postgres import PgHandle

API_ENV = "ASYNCLAB_API_URL"
PG_ENV = "ASYNCLAB_PG_DSN"
USER_PG_ENV = "DATABASE_URL"
EXTERNAL_HEALTH_TIMEOUT = 5.0  # seconds an address from the environment gets to answer


@dataclass(frozen=True, eq=False)
class Lab:
    """The running lab services: `api` (the fault-injecting HTTP API) and `pg` (PostgreSQL)."""

    api: ApiHandle
    pg: PgHandle


class _State:
    """Everything `start` and `stop` share; one instance per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lab: Lab | None = None
        self.stoppers: list[Callable[[], None]] = []  # what this process started, oldest first
        self.exported: dict[str, str | None] = {}  # variable -> its value before we set it


_state = _State()
_atexit_registered = False


async def start() -> Lab:
    """Return this process's Lab, starting the services it needs the first time."""
    lab = _state.lab
    if lab is not None:
        return lab
    lab = await asyncio.to_thread(start_sync)
    # A notebook kernel holds a large, long-lived heap (IPython, matplotlib, httpx). A full
    # garbage collection of it took 0.33 s on a loaded 2-core machine and showed up on the
    # meter as a stall the learner did not cause. Freezing what exists now takes it out of
    # every later collection; new objects are collected as usual.
    gc.freeze()
    return lab


async def stop() -> None:
    """Stop what this process started and forget the Lab; `start()` afterwards starts afresh."""
    await asyncio.to_thread(stop_sync)


def start_sync() -> Lab:
    """`start()` for code without a running loop (pytest's conftest). Blocks until ready."""
    global _atexit_registered
    state = _state
    with state.lock:
        if state.lab is None:
            state.lab = _start(state)
            if not _atexit_registered:
                atexit.register(_stop_at_exit)
                _atexit_registered = True
        return state.lab


def share_postgres_sync() -> None:
    """Start (or find) PostgreSQL only, and export its address: for a test controller whose
    workers each start their own API server (conftest.py). One server's load then never shows up
    in another worker's latency, while the database, which no check times tightly, is shared.
    `stop_sync()` stops it."""
    global _atexit_registered
    state = _state
    with state.lock:
        if state.lab is not None or state.stoppers:
            return
        stoppers: list[Callable[[], None]] = []
        pg = _resolve_pg(stoppers)
        state.stoppers = stoppers
        _export(state, PG_ENV, pg.dsn)
        if not _atexit_registered:
            atexit.register(_stop_at_exit)
            _atexit_registered = True


def start_api_servers(n: int) -> list[ApiHandle]:
    """Start `n` API servers of this process's own, at once; `stop_sync()` (or exit) stops them.

    For a grader that runs `n` checks side by side (`python -m asynclab.progress`, the class
    simulation): each gets a server, as each pytest worker does (conftest.py), because one
    check's load on a shared server shows up in another check's latency (issue 17). Start
    PostgreSQL first with `share_postgres_sync()`: the database is shared, no check times it tightly.
    """
    global _atexit_registered
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, n)) as pool:
        futures = [pool.submit(start_api) for _ in range(n)]
        started = [(f.result() if f.exception() is None else None, f.exception()) for f in futures]
    state = _state
    with state.lock:
        for pair, _ in started:
            if pair is not None:
                state.stoppers.append(pair[1].stop)
        if not _atexit_registered:
            atexit.register(_stop_at_exit)
            _atexit_registered = True
    errors = [exc for _, exc in started if exc is not None]
    if errors:
        raise errors[0]  # the ones that did start stop with stop_sync(), or at exit
    return [pair[0] for pair, _ in started if pair is not None]


def stop_sync() -> None:
    """`stop()` without a loop. Stops everything it can, then raises the first error, if any."""
    state = _state
    with state.lock:
        stoppers, state.stoppers, state.lab = state.stoppers, [], None
        for name, before in state.exported.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        state.exported.clear()
        errors: list[BaseException] = []
        for stop_one in reversed(stoppers):
            try:
                stop_one()
            except Exception as exc:  # keep stopping the rest
                errors.append(exc)
        if errors:
            raise errors[0]


def _stop_at_exit() -> None:
    try:
        stop_sync()
    except Exception:
        pass  # the services also die with this process: nothing more to do at exit


def _start(state: _State) -> Lab:
    stoppers: list[Callable[[], None]] = []
    try:
        lab = Lab(api=_resolve_api(stoppers), pg=_resolve_pg(stoppers))
    except BaseException:
        for stop_one in reversed(stoppers):
            stop_one()
        raise
    state.stoppers = stoppers
    for name, value in ((API_ENV, lab.api.url), (PG_ENV, lab.pg.dsn)):
        _export(state, name, value)
    return lab


def _export(state: _State, name: str, value: str) -> None:
    """Set an address for child processes, remembering the value before (stop_sync restores it)."""
    if os.environ.get(name) != value:
        state.exported.setdefault(name, os.environ.get(name))
        os.environ[name] = value


def _resolve_api(stoppers: list[Callable[[], None]]) -> ApiHandle:
    url = os.environ.get(API_ENV)
    if url:
        try:
            wait_until_healthy(url, EXTERNAL_HEALTH_TIMEOUT)
        except ServiceStartError as exc:
            raise ServiceStartError(f"{API_ENV}={url} is set but does not answer ({exc}). "
                                    f"Unset {API_ENV} to let the lab start its own server.") from exc
        return ApiHandle(url)
    api, child = start_api()
    stoppers.append(child.stop)
    return api


def _resolve_pg(stoppers: list[Callable[[], None]]) -> PgHandle:
    from .services.postgres import PgHandle, start_postgres

    dsn = os.environ.get(USER_PG_ENV) or os.environ.get(PG_ENV)
    if dsn:
        return PgHandle.external(dsn)
    pg = start_postgres()
    stoppers.append(pg.stop)
    return pg
