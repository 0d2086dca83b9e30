"""asynclab.start(): one Lab per process, addresses from the environment first.

The API part is real (real server processes, real health checks). PostgreSQL is replaced
by a stand-in module that keeps the documented contract of asynclab.services.postgres
(`start_postgres()`, `PgHandle(dsn)`, `PgHandle.external(dsn)`, `.stop()`), so these tests
check the lab's own logic without starting a database; the last test uses the real one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import sys
import time
import types
from collections.abc import Iterator

import httpx
import psutil
import pytest

import asynclab
from asynclab import lab as lab_module
from asynclab.errors import ServiceStartError
from asynclab.services.api_client import ApiHandle
from asynclab.services.child import Child

ENV = ("DATABASE_URL", "ASYNCLAB_API_URL", "ASYNCLAB_PG_DSN")
STARTED_DSN = "postgresql://lab@127.0.0.1:1/started-by-the-stand-in"


class StandInPg:
    def __init__(self, dsn: str) -> None:
        self.dsn, self.external_address, self.stopped = dsn, False, False

    @classmethod
    def external(cls, dsn: str) -> StandInPg:
        handle = cls(dsn)
        handle.external_address = True
        return handle

    def stop(self) -> None:
        self.stopped = True


def stand_in_postgres(fail: bool = False) -> types.ModuleType:
    module = types.ModuleType("asynclab.services.postgres")
    started: list[StandInPg] = []

    def start_postgres(timeout: float = 60) -> StandInPg:
        if fail:
            raise ServiceStartError("the stand-in PostgreSQL refuses to start")
        started.append(StandInPg(STARTED_DSN))
        return started[-1]

    module.PgHandle = StandInPg  # type: ignore[attr-defined]
    module.start_postgres = start_postgres  # type: ignore[attr-defined]
    module.started = started  # type: ignore[attr-defined]
    return module


@pytest.fixture
def fresh_lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process with no Lab yet and no lab addresses in its environment."""
    monkeypatch.setattr(lab_module, "_state", lab_module._State())
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    try:
        yield
    finally:
        lab_module.stop_sync()


@pytest.fixture
def pg(fresh_lab: None, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = stand_in_postgres()
    monkeypatch.setitem(sys.modules, "asynclab.services.postgres", module)
    return module


def api_servers() -> set[int]:
    """Pids of the API servers that are children of this process."""
    found = set()
    for proc in psutil.Process().children():
        try:
            if "asynclab.services.http_api" in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.add(proc.pid)
        except psutil.Error:
            continue
    return found


def server_pid(url: str) -> int:
    pid: int = httpx.get(f"{url}/_lab/health", trust_env=False, timeout=10).json()["pid"]
    return pid


@pytest.mark.slow
@pytest.mark.anyio
async def test_start_returns_the_same_lab_every_time_and_starts_one_server(pg: types.ModuleType) -> None:
    before = api_servers()
    async with asyncio.timeout(60):
        first, second = await asyncio.gather(asynclab.start(), asynclab.start())
        third = await asynclab.start()
    assert first is second is third
    new = api_servers() - before
    assert len(new) == 1 and server_pid(first.api.url) in new
    assert len(pg.started) == 1 and first.pg is pg.started[0]
    assert os.environ["ASYNCLAB_API_URL"] == first.api.url
    assert os.environ["ASYNCLAB_PG_DSN"] == STARTED_DSN

    async with asyncio.timeout(30):
        await asynclab.stop()
    assert not any(name in os.environ for name in ENV)
    assert pg.started[0].stopped
    assert not new & api_servers()  # stop() waits for the server to exit


@pytest.mark.anyio
async def test_addresses_in_the_environment_are_reused(
    server: tuple[ApiHandle, Child], pg: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCLAB_API_URL", server[0].url)
    monkeypatch.setenv("ASYNCLAB_PG_DSN", "postgresql://lab@127.0.0.1:5/from-env")
    before = api_servers()
    async with asyncio.timeout(30):
        lab = await asynclab.start()
    assert api_servers() == before  # no new server process
    assert lab.api.url == server[0].url and server_pid(lab.api.url) == server[1].process.pid
    assert lab.pg.dsn == "postgresql://lab@127.0.0.1:5/from-env" and lab.pg.external_address
    assert pg.started == []
    async with asyncio.timeout(30):
        await asynclab.stop()
    assert server[1].process.poll() is None  # not ours to stop
    assert os.environ["ASYNCLAB_API_URL"] == server[0].url


@pytest.mark.anyio
async def test_database_url_wins_over_asynclab_pg_dsn(
    server: tuple[ApiHandle, Child], pg: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCLAB_API_URL", server[0].url)
    monkeypatch.setenv("ASYNCLAB_PG_DSN", "postgresql://lab@127.0.0.1:5/lab")
    monkeypatch.setenv("DATABASE_URL", "postgresql://me@127.0.0.1:6/mine")
    async with asyncio.timeout(30):
        lab = await asynclab.start()
    assert lab.pg.dsn == "postgresql://me@127.0.0.1:6/mine" and pg.started == []
    assert os.environ["ASYNCLAB_PG_DSN"] == "postgresql://me@127.0.0.1:6/mine"  # graders follow
    async with asyncio.timeout(30):
        await asynclab.stop()
    assert os.environ["ASYNCLAB_PG_DSN"] == "postgresql://lab@127.0.0.1:5/lab"  # restored


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.anyio
async def test_a_dead_api_address_in_the_environment_fails_clearly(
    pg: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab_module, "EXTERNAL_HEALTH_TIMEOUT", 0.5)
    monkeypatch.setenv("ASYNCLAB_API_URL", f"http://127.0.0.1:{_closed_port()}")
    before = api_servers()
    with pytest.raises(ServiceStartError, match="ASYNCLAB_API_URL=.* does not answer"):
        async with asyncio.timeout(30):
            await asynclab.start()
    assert lab_module._state.lab is None and api_servers() == before


@pytest.mark.anyio
async def test_a_failed_start_stops_what_it_had_started(fresh_lab: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asynclab.services.postgres", stand_in_postgres(fail=True))
    before = api_servers()
    with pytest.raises(ServiceStartError, match="refuses"):
        async with asyncio.timeout(60):
            await asynclab.start()
    deadline = time.monotonic() + 10
    while api_servers() != before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert api_servers() == before
    assert lab_module._state.lab is None and "ASYNCLAB_API_URL" not in os.environ


@pytest.mark.anyio
async def test_starting_services_never_blocks_the_loop(pg: types.ModuleType) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        async with asyncio.timeout(60):
            await asynclab.start()
    finally:
        ticker.cancel()
    elapsed = time.monotonic() - started
    assert ticks >= 0.25 * elapsed / 0.01, f"{ticks} ticks in {elapsed:.2f} s"  # blocked: about 0


def test_start_sync_shares_the_lab_with_start(
    server: tuple[ApiHandle, Child], pg: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCLAB_API_URL", server[0].url)
    first = lab_module.start_sync()
    assert lab_module.start_sync() is first
    assert asyncio.run(asynclab.start()) is first


def test_the_public_api_is_exported() -> None:
    assert asynclab.start is lab_module.start and asynclab.stop is lab_module.stop
    assert asynclab.Lab is lab_module.Lab and asynclab.ApiHandle is ApiHandle
    assert asynclab.__all__ == sorted(asynclab.__all__)
    assert {"ApiHandle", "Lab", "start", "stop"} <= set(asynclab.__all__)


@pytest.mark.anyio
@pytest.mark.skipif(importlib.util.find_spec("asynclab.services.postgres") is None,
                    reason="asynclab.services.postgres is not written yet")
@pytest.mark.slow
async def test_start_with_the_real_services(fresh_lab: None) -> None:
    async with asyncio.timeout(90):
        lab = await asynclab.start()
        assert (await lab.api.scoped().stats())["requests"] == 0
        assert lab.pg.dsn.startswith("postgres") and os.environ["ASYNCLAB_PG_DSN"] == lab.pg.dsn
        await asynclab.stop()
