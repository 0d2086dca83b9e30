"""Notebook 07 (capstone): a service, the process it runs in, and a load generator to measure it.

The service reads a user from PostgreSQL, enriches it from a "partner" API (the lab's HTTP API)
and records an audit event. `create_app(settings)` builds it with any set of the five fixes of
the course switched on, so notebook 07 and `make bench` can put one mistake at a time under the
same load:

    settings = default_settings(lab.api.scoped().url, lab.pg.dsn, fixes=FIXES)
    async with await AppProcess.start(APP_FACTORY, settings) as app:      # uvicorn, in a subprocess
        report = await run_load(app.url, clients=200, duration=2, rate=100, path_fn=user_path)
    print(report.summary())   # throughput, p50/p99 latency, errors, and the app's own loop lag

Pieces (each usable alone):

* `default_settings`, `partner_url`: the settings dict and the partner's behaviour per user
  (every `hang_every`-th user's profile hangs, every `fail_every`-th answers 500).
* `add_metrics(app, settings)`: `/metrics` on any FastAPI app: a heartbeat on the app's loop
  (lag), requests in flight, sockets open to the partner, and counters the app reports itself.
* `create_app(settings)`: the reference service, `settings["fixes"]` picks the fixes.
* `AppProcess`: run any `module:factory` under uvicorn in a child process on 127.0.0.1 (free
  port), which dies with its parent; `stop()` sends SIGTERM so the lifespan shutdown runs.
* `run_load(url, ...) -> LoadReport`: a bounded async load generator (at most `clients`
  requests in flight) that samples `/metrics` while it runs.

Why the load generator uses aiohttp's client and not httpx: at high concurrency httpx's
connection pool costs a lot of CPU per request (encode/httpcore#1035), so with httpx the
*load generator* would be what we measure. aiohttp's client is several times cheaper.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ServiceStartError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from matplotlib.figure import Figure

    from ..services._child import Child

__all__ = [
    "ALL_FIXES", "APP_FACTORY", "FIXES", "AppProcess", "AppStartError", "LoadReport", "Probe", "Result",
    "ServiceMetrics", "StepResult", "StopReport", "add_metrics", "count_audit_events", "count_http_clients",
    "create_app", "default_settings", "healthy_ids", "healthy_user_path", "partner_kind", "partner_url",
    "plot_steps", "run_load", "run_step", "user_path",
]

# --------------------------------------------------------------------------------------------
# Settings and the partner's behaviour

FIXES = ("async", "pool", "deadline", "bound", "audit")
"""The five fixes, in the order notebook 07 switches them on:

async     non-blocking drivers (asyncpg, httpx.AsyncClient) instead of psycopg/httpx in sync mode
pool      one HTTP client and one database pool for the app's lifetime, not one per request
deadline  `asyncio.timeout(deadline)` around the partner call; a failed call answers 503
bound     at most `pool_limit` partner calls at once (a semaphore, and the pool's own limit)
audit     audit tasks are kept and drained at shutdown, not fired and forgotten
"""
ALL_FIXES = FIXES
APP_FACTORY = "asynclab.lessons.n07_capstone:create_app"
READY_KEY = "ASYNCLAB_APP_URL"

USER_SQL = "SELECT id, name, email, tier FROM users WHERE id = $1"
AUDIT_SQL = ("INSERT INTO events (user_id, kind, payload) "
             "VALUES ($1, 'profile.viewed', jsonb_build_object('run', $2::text))")
# The same statements for psycopg, which uses %s placeholders.
USER_SQL_PSYCOPG = "SELECT id, name, email, tier FROM users WHERE id = %s"
AUDIT_SQL_PSYCOPG = ("INSERT INTO events (user_id, kind, payload) "
                     "VALUES (%s, 'profile.viewed', jsonb_build_object('run', %s::text))")


def default_settings(api_url: str, dsn: str, *, fixes: Iterable[str] = (), run_id: str | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """The settings dict the service is built from. Every value is JSON, so it can cross processes.

    api_url       the partner's base URL (use a scoped lab API URL, so its counters are yours)
    dsn           PostgreSQL
    deadline      seconds a partner call may take, waiting for a free slot included
    pool_limit    at most this many connections to, and calls in flight at, the partner
    db_pool_size  the app's PostgreSQL pool
    audit_delay   how slow the audit store is (simulated: the audit write sleeps this long first)
    run_id        written into every audit event (events.payload->>'run'), to count them later
    api_ms        how long the partner takes for a healthy user
    hang_every    every hang_every-th user id: the partner never answers (0: never)
    fail_every    every fail_every-th user id: the partner answers 500 (0: never)
    fixes         which of FIXES are on (only the reference `create_app` reads it)
    """
    fixes = list(fixes)
    unknown = set(fixes) - set(FIXES)
    if unknown:
        raise ValueError(f"unknown fixes {sorted(unknown)}; choose from {FIXES}")
    settings: dict[str, Any] = {
        "api_url": api_url.rstrip("/"),
        "dsn": dsn,
        "deadline": 0.3,
        "pool_limit": 10,
        "db_pool_size": 5,
        "audit_delay": 0.5,
        "run_id": run_id or f"run-{secrets.token_hex(6)}",
        "api_ms": 50,
        "hang_every": 25,
        "fail_every": 20,
        "fixes": [f for f in FIXES if f in fixes],
    }
    unknown_keys = set(overrides) - set(settings)
    if unknown_keys:
        raise ValueError(f"unknown settings {sorted(unknown_keys)}")
    settings.update(overrides)
    return settings


def partner_kind(settings: dict[str, Any], user_id: int) -> str:
    """What the partner does for this user: "hang", "fail" or "ok"."""
    hang, fail = int(settings.get("hang_every") or 0), int(settings.get("fail_every") or 0)
    if hang and user_id % hang == 0:
        return "hang"
    if fail and user_id % fail == 0:
        return "fail"
    return "ok"


def partner_url(settings: dict[str, Any], user_id: int) -> str:
    """Where the partner keeps this user's profile: a real URL on the lab API.

    Healthy users: `/users/{id}?ms=api_ms` ({"id", "tier", "score"}). Some users' profiles
    hang forever (`/hang`) and some fail (`/error?rate=1&status=500`), which is what a real
    partner does now and then.
    """
    base = settings["api_url"].rstrip("/")
    kind = partner_kind(settings, user_id)
    if kind == "hang":
        return f"{base}/hang?user={user_id}"
    if kind == "fail":
        return f"{base}/error?rate=1&status=500&id={user_id}&ms={int(settings.get('api_ms', 0))}"
    return f"{base}/users/{user_id}?ms={int(settings.get('api_ms', 0))}"


def user_path(i: int) -> str:
    """The i-th request of a load: users spread over 1..1000, so every kind of partner answer shows up."""
    return f"/users/{1 + (i * 7) % 1000}"


def healthy_ids(settings: dict[str, Any]) -> list[int]:
    """User ids whose partner profile answers normally."""
    return [u for u in range(1, 1001) if partner_kind(settings, u) == "ok"]


def healthy_user_path(settings: dict[str, Any]) -> Callable[[int], str]:
    """A `path_fn` that only asks for users the partner answers for."""
    ids = healthy_ids(settings)
    return lambda i: f"/users/{ids[(i * 7) % len(ids)]}"


def path_user(path: str) -> int:
    """The user id of a `/users/{id}` path."""
    return int(path.rsplit("/", 1)[1])


def unused_healthy_ids(settings: dict[str, Any], used: Iterable[int], n: int) -> list[int]:
    """`n` healthy users that no earlier request asked for: their audit rows can only come from the
    requests about to be sent, whoever else the app is still auditing (a request the load
    generator gave up on may still be answered, and audited, later)."""
    seen = set(used)
    ids = [u for u in healthy_ids(settings) if u not in seen]
    if len(ids) < n:
        raise ValueError(f"only {len(ids)} healthy users left unused, {n} needed")
    return ids[-n:]


# --------------------------------------------------------------------------------------------
# /metrics for any FastAPI app

_http_clients_created = 0  # httpx clients made in this process, once counting is on (AppProcess's child)


def count_http_clients() -> None:
    """Count every httpx.Client and httpx.AsyncClient made from now on in this process.

    `AppProcess` turns it on in the app's process, and `/metrics` reports the count
    (`http_clients_created`): a client per request shows up as one client per request, whatever
    the code looks like. `httpx.get(...)` makes a client too.
    """
    import httpx

    for cls in (httpx.Client, httpx.AsyncClient):
        if getattr(cls.__init__, "_asynclab_counted", False):
            continue
        original = cls.__init__

        def __init__(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            global _http_clients_created
            _http_clients_created += 1
            _original(self, *args, **kwargs)

        __init__._asynclab_counted = True  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[method-assign]



class ServiceMetrics:
    """What `/metrics` reports. Create it with `add_metrics(app, settings)`.

    The app may report its own numbers too: `metrics.count("audit_recorded")` adds one to a
    counter, `metrics.gauge("audit_pending", lambda: len(pending))` reports a live value.
    """

    def __init__(self, settings: dict[str, Any] | None = None, *, interval: float = 0.02) -> None:
        from ..instruments.loop_monitor import LoopMonitor

        self.monitor = LoopMonitor(interval=interval)
        self.started = time.monotonic()
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.counters: dict[str, int] = {}
        self.gauges: dict[str, Callable[[], Any]] = {}
        url = (settings or {}).get("api_url") or ""
        self.partner_port = urlsplit(url).port if url else None

    def start_heartbeat(self) -> None:
        """Start the heartbeat on the running loop (once; later calls do nothing)."""
        if not self.monitor.running and self.monitor.elapsed == 0.0:
            self.monitor.start()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def gauge(self, name: str, read: Callable[[], Any]) -> None:
        self.gauges[name] = read

    def partner_connections(self) -> int | None:
        """TCP connections this process holds open to the partner right now (counted by the OS)."""
        if self.partner_port is None:
            return None
        import psutil

        try:
            conns = psutil.Process().net_connections(kind="tcp")
        except (psutil.Error, OSError):
            return None
        return sum(1 for c in conns if c.raddr and c.raddr.port == self.partner_port
                   and c.status == psutil.CONN_ESTABLISHED)

    def snapshot(self) -> dict[str, Any]:
        m = self.monitor
        gauges: dict[str, Any] = {}
        for name, read in self.gauges.items():
            try:
                gauges[name] = read()
            except Exception as exc:  # a broken gauge must not break /metrics
                gauges[name] = f"error: {type(exc).__name__}"
        return {
            "uptime_s": round(time.monotonic() - self.started, 4),
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "loop": {
                "lag_s": round(m.recent_lag(1.0), 4),  # worst heartbeat lag in the last second
                "max_lag_s": round(m.longest_stall, 4),
                "stalled_s": round(m.blocked_time, 4),  # total time in stalls since start
                "heartbeats": m.ticks,
                "expected_heartbeats": m.expected_ticks,
            },
            "partner": {"connections_open": self.partner_connections(),
                        "http_clients_created": _http_clients_created},
            "app": {**self.counters, **gauges},
        }


class _MetricsMiddleware:
    """Pure ASGI: counts HTTP requests in flight and starts the heartbeat at lifespan startup."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        m = self.metrics
        if scope["type"] != "http":
            m.start_heartbeat()
            await self.app(scope, receive, send)
            return
        m.start_heartbeat()
        if scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        m.requests += 1
        m.in_flight += 1
        m.peak_in_flight = max(m.peak_in_flight, m.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            m.in_flight -= 1


def add_metrics(app: FastAPI, settings: dict[str, Any] | None = None) -> ServiceMetrics:
    """Add `GET /metrics` to `app`, and return the ServiceMetrics behind it.

    Call it in `create_app`, after `app = FastAPI(...)`. The heartbeat starts with the app
    (lifespan startup) and ticks on the app's own event loop, so `loop.lag_s` is how late that
    loop runs callbacks: the thing every blocking mistake makes worse.
    """
    metrics = ServiceMetrics(settings)
    app.add_middleware(_MetricsMiddleware, metrics=metrics)

    async def metrics_endpoint() -> dict[str, Any]:
        return metrics.snapshot()

    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.state.metrics = metrics
    return metrics


# --------------------------------------------------------------------------------------------
# The reference service, one switch per fix


def create_app(settings: dict[str, Any]) -> FastAPI:
    """The capstone service with `settings["fixes"]` switched on (see FIXES).

    `GET /users/{id}` answers {"id", "name", "email", "tier", "score"}: the row from PostgreSQL,
    the score from the partner. With "deadline", a partner that fails or misses the deadline
    gives 503; without it, a failure is a 500 and a hang hangs.
    """
    import httpx
    from fastapi import FastAPI, HTTPException

    fixes = set(settings.get("fixes") or ())
    unknown = fixes - set(FIXES)
    if unknown:
        raise ValueError(f"unknown fixes {sorted(unknown)}; choose from {FIXES}")
    use_async, pooled, deadline_on = "async" in fixes, "pool" in fixes, "deadline" in fixes
    bounded, tracked = "bound" in fixes, "audit" in fixes
    deadline = float(settings["deadline"])
    limit = int(settings["pool_limit"])
    run_id = str(settings["run_id"])
    # httpx's own timeout: the sync client's only deadline; for the async one asyncio.timeout is.
    http_timeout = httpx.Timeout(deadline) if deadline_on else None
    http_limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit) if bounded else None
    state: dict[str, Any] = {}
    audits: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if bounded:
                state["slots"] = asyncio.Semaphore(limit)
            if pooled and use_async:
                import asyncpg

                state["db"] = await stack.enter_async_context(
                    asyncpg.create_pool(settings["dsn"], min_size=1, max_size=int(settings["db_pool_size"])))
                kwargs: dict[str, Any] = {"timeout": http_timeout}
                if http_limits is not None:
                    kwargs["limits"] = http_limits
                state["http"] = await stack.enter_async_context(httpx.AsyncClient(**kwargs))
            elif pooled:
                import psycopg

                state["db"] = stack.enter_context(psycopg.connect(settings["dsn"], autocommit=True))
                kwargs = {"timeout": http_timeout}
                if http_limits is not None:
                    kwargs["limits"] = http_limits
                state["http"] = stack.enter_context(httpx.Client(**kwargs))
            yield
            if tracked and audits:  # drain: the audit events of answered requests must be written
                await asyncio.wait(set(audits), timeout=10)

    app = FastAPI(lifespan=lifespan)
    metrics = add_metrics(app, settings)
    metrics.gauge("audit_pending", lambda: metrics.counters.get("audit_started", 0)
                  - metrics.counters.get("audit_recorded", 0) - metrics.counters.get("audit_failed", 0))

    async def read_user(user_id: int) -> dict[str, Any] | None:
        if use_async:
            import asyncpg

            if pooled:
                row = await state["db"].fetchrow(USER_SQL, user_id)
            else:
                conn = await asyncpg.connect(settings["dsn"])  # a connection per request
                try:
                    row = await conn.fetchrow(USER_SQL, user_id)
                finally:
                    await conn.close()
            return dict(row) if row is not None else None
        import psycopg
        from psycopg.rows import dict_row

        if pooled:
            return state["db"].cursor(row_factory=dict_row).execute(USER_SQL_PSYCOPG, (user_id,)).fetchone()
        with psycopg.connect(settings["dsn"], row_factory=dict_row) as conn:  # blocks the loop
            return conn.execute(USER_SQL_PSYCOPG, (user_id,)).fetchone()

    async def fetch_partner(url: str) -> Any:
        if use_async:
            if pooled:
                response = await state["http"].get(url)
            else:
                async with httpx.AsyncClient(timeout=http_timeout) as client:  # a client per request
                    response = await client.get(url)
        elif pooled:
            response = state["http"].get(url)  # blocks the loop
        else:
            response = httpx.get(url, timeout=http_timeout)  # blocks, and a client per request
        response.raise_for_status()
        return response.json()

    async def enrich(user_id: int) -> Any:
        url = partner_url(settings, user_id)
        if not deadline_on:
            if bounded:
                async with state["slots"]:
                    return await fetch_partner(url)
            return await fetch_partner(url)
        try:
            async with asyncio.timeout(deadline):
                if bounded:
                    async with state["slots"]:
                        return await fetch_partner(url)
                return await fetch_partner(url)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise HTTPException(503, f"partner unavailable ({type(exc).__name__})") from None

    async def record_view(user_id: int) -> None:
        try:
            await asyncio.sleep(float(settings["audit_delay"]))  # the audit store is slow (simulated)
            if use_async:
                if pooled:
                    await state["db"].execute(AUDIT_SQL, user_id, run_id)
                else:
                    import asyncpg

                    conn = await asyncpg.connect(settings["dsn"])
                    try:
                        await conn.execute(AUDIT_SQL, user_id, run_id)
                    finally:
                        await conn.close()
            else:
                import psycopg

                if pooled:
                    state["db"].execute(AUDIT_SQL_PSYCOPG, (user_id, run_id))
                else:
                    with psycopg.connect(settings["dsn"], autocommit=True) as conn:
                        conn.execute(AUDIT_SQL_PSYCOPG, (user_id, run_id))
        except Exception:
            metrics.count("audit_failed")
            raise
        metrics.count("audit_recorded")

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, Any]:
        row = await read_user(user_id)
        if row is None:
            raise HTTPException(404, "no such user")
        profile = await enrich(user_id)
        metrics.count("audit_started")
        task = asyncio.create_task(record_view(user_id))
        if tracked:
            audits.add(task)
            task.add_done_callback(audits.discard)
        return {**row, "score": profile["score"]}

    return app


# --------------------------------------------------------------------------------------------
# Running an app in a child process


class AppStartError(ServiceStartError):
    """The app process did not start; `log` holds the end of what it wrote."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


@dataclass
class StopReport:
    """How an app process ended: `graceful` when it exited by itself after SIGTERM."""

    graceful: bool
    seconds: float
    returncode: int | None


class AppProcess:
    """An ASGI app factory served by uvicorn in a child process, on 127.0.0.1 and a free port.

        app = await AppProcess.start("submission:create_app", settings, app_dir=folder)
        app.url                      # http://127.0.0.1:PORT
        stop = await app.stop()      # SIGTERM: uvicorn finishes requests, runs the lifespan shutdown
        stop.graceful                # False when it had to be killed

    The child dies with its parent (`asynclab.services._child`). It also stops when the file
    `stop_file` appears, which is how `stop()` asks politely on Windows (no SIGTERM there).
    """

    def __init__(self, child: Child, log_path: Path, settings: dict[str, Any]) -> None:
        self.child = child
        self.url = child.value
        self.log_path = log_path
        self.settings = settings
        self.stopped: StopReport | None = None

    @property
    def pid(self) -> int:
        return self.child.process.pid

    @property
    def stop_file(self) -> Path:
        return self.log_path.with_suffix(".stop")

    @classmethod
    async def start(cls, factory: str = APP_FACTORY, settings: dict[str, Any] | None = None, *,
                    app_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0,
                    graceful_timeout: float = 5.0) -> AppProcess:
        """Start `factory` ("module:function", called with `settings`) and wait until it serves."""
        from ..services._child import spawn

        if settings is None:
            raise ValueError("settings are required (see default_settings)")
        fd, name = tempfile.mkstemp(prefix="asynclab-app-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
        args = ["--factory", factory, "--settings", json.dumps(settings), "--log", str(log_path),
                "--graceful-timeout", str(graceful_timeout)]
        if app_dir is not None:
            args += ["--app-dir", str(app_dir)]
        try:
            child = await asyncio.to_thread(spawn, "capstone-app", "asynclab.lessons.n07_capstone", args, READY_KEY,
                                            timeout)
        except ServiceStartError as exc:
            log = _tail(log_path)
            log_path.unlink(missing_ok=True)
            raise AppStartError(f"the app did not start: {exc}".strip(), log) from None
        return cls(child, log_path, settings)

    def alive(self) -> bool:
        return self.child.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        return _tail(self.log_path, lines)

    async def stop(self, grace: float = 5.0) -> StopReport:
        """Ask the app to stop (SIGTERM), wait up to `grace` seconds, then kill it."""
        if self.stopped is not None:
            return self.stopped
        proc = self.child.process
        started = time.monotonic()
        if proc.poll() is None:
            if os.name == "nt":  # pragma: no cover - Windows has no SIGTERM for a child
                self.stop_file.touch()
            else:
                proc.send_signal(signal.SIGTERM)
        while proc.poll() is None and time.monotonic() - started < grace:
            await asyncio.sleep(0.02)
        graceful = proc.poll() is not None
        if not graceful:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
        self.stopped = StopReport(graceful, time.monotonic() - started, proc.returncode)
        return self.stopped

    async def kill(self) -> None:
        """Stop at once (SIGKILL): for an app that is known to be stuck."""
        proc = self.child.process
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
        if self.stopped is None:
            self.stopped = StopReport(False, 0.0, proc.returncode)

    def cleanup(self) -> None:
        self.log_path.unlink(missing_ok=True)
        self.stop_file.unlink(missing_ok=True)

    async def __aenter__(self) -> AppProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stop()
        finally:
            self.cleanup()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _serve_main(argv: Sequence[str] | None = None) -> int:
    """The child: `python -m asynclab.lessons.n07_capstone --factory mod:fn --settings JSON ...`."""
    parser = argparse.ArgumentParser(prog="python -m asynclab.lessons.n07_capstone")
    parser.add_argument("--factory", required=True, help="module:function, called with the settings dict")
    parser.add_argument("--settings", required=True, help="the settings, as JSON")
    parser.add_argument("--app-dir", help="folder to import the factory's module from")
    parser.add_argument("--log", help="write the app's output here instead of stdout")
    parser.add_argument("--graceful-timeout", type=float, default=5.0,
                        help="seconds uvicorn lets open requests finish at shutdown")
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    args = parser.parse_args(argv)

    from ..services._child import watch_parent

    if args.parent_pid is not None:
        watch_parent(args.parent_pid)
    ready_out = sys.stdout
    if args.log:
        log = open(args.log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process
        sys.stdout = sys.stderr = log
    if args.app_dir:
        sys.path.insert(0, args.app_dir)

    import uvicorn

    from asynclab.lessons import n07_capstone  # by name: the module add_metrics comes from, not __main__

    n07_capstone.count_http_clients()

    module_name, _, function = args.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), function or "create_app")
    app = factory(json.loads(args.settings))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, loop="asyncio",
                            http="h11", ws="none", backlog=4096, timeout_graceful_shutdown=args.graceful_timeout)
    server = uvicorn.Server(config)
    stop_file = Path(args.log).with_suffix(".stop") if args.log else None

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        print(f"{READY_KEY}=http://127.0.0.1:{port}", file=ready_out, flush=True)
        while stop_file is not None and not server.should_exit:  # the polite stop on Windows
            if stop_file.exists():
                server.should_exit = True
            await asyncio.sleep(0.05)

    async def main() -> None:
        announcer = asyncio.create_task(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            announcer.cancel()

    asyncio.run(main())
    return 0 if server.started else 3


# --------------------------------------------------------------------------------------------
# The load generator


@dataclass
class Result:
    """One request of a load: its path, HTTP status (None when it got no answer), error, latency (s),
    and when it ended (s after the load started)."""

    index: int
    path: str
    status: int | None
    error: str | None
    latency: float
    end: float = 0.0


@dataclass
class Probe:
    """One read of `/metrics`: when (s after the start), how long it took, and what came back."""

    t: float
    rtt: float
    data: dict[str, Any] | None


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class LoadReport:
    """What a `run_load` measured. Latencies are in seconds, from sending a request to its last byte.

    A request that got no answer within `timeout` counts with latency `timeout`: it is the tail,
    and leaving it out would make a hanging service look fast.
    """

    url: str
    label: str
    clients: int
    rate: float | None
    timeout: float
    elapsed: float
    results: list[Result]
    probes: list[Probe] = field(default_factory=list)
    final_metrics: dict[str, Any] | None = None
    window: float | None = None  # the planned sending time (duration=), if any

    # -- counts ----------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return len(self.results)

    @property
    def status(self) -> dict[int, int]:
        """Answers by HTTP status code."""
        return dict(sorted(Counter(r.status for r in self.results if r.status is not None).items()))

    @property
    def errors(self) -> dict[str, int]:
        """Requests without an answer, by kind ("timeout", "ServerDisconnectedError", ...)."""
        return dict(sorted(Counter(r.error for r in self.results if r.error is not None).items()))

    @property
    def ok(self) -> int:
        return sum(1 for r in self.results if r.status is not None and 200 <= r.status < 300)

    @property
    def unanswered(self) -> int:
        return sum(1 for r in self.results if r.status is None)

    @property
    def throughput(self) -> float:
        """Successful (2xx) answers per second: over the sending window, or until the last
        success if that came later. Requests still waiting for an answer after the window (a
        hanging call) do not stretch it, so they cannot make a service that served everyone else
        look slow; a service that stopped answering gets no credit for the time it was silent."""
        ends = [r.end for r in self.results if r.status is not None and 200 <= r.status < 300]
        span = max([self.window or 0.0, *ends]) if ends else (self.window or self.elapsed)
        return self.ok / span if span > 0 else 0.0

    # -- latency ---------------------------------------------------------------------------
    @property
    def latencies(self) -> list[float]:
        return [r.latency for r in self.results]

    def percentile(self, q: float) -> float:
        return _percentile(self.latencies, q)

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max_latency(self) -> float:
        return max(self.latencies, default=0.0)

    # -- the service's loop, from /metrics ---------------------------------------------------
    @property
    def probes_unanswered(self) -> int:
        return sum(1 for p in self.probes if p.data is None)

    @property
    def loop_lag(self) -> float:
        """The service's worst loop lag during the run (s): the heartbeat's own reports, and for
        a /metrics read that got no answer, how long it waited (the loop was at least that late)."""
        worst = 0.0
        for p in self.probes:
            if p.data is None:
                worst = max(worst, p.rtt)
            else:
                worst = max(worst, float(p.data.get("loop", {}).get("lag_s", 0.0)))
        return worst

    @property
    def loop_blocked_share(self) -> float | None:
        """Share of the run the service's loop spent in stalls (None without two answered reads)."""
        answered = [p for p in self.probes if p.data is not None]
        if len(answered) < 2:
            return None
        first, last = answered[0].data, answered[-1].data
        assert first is not None and last is not None
        span = float(last["uptime_s"]) - float(first["uptime_s"])
        stalled = float(last["loop"]["stalled_s"]) - float(first["loop"]["stalled_s"])
        return min(1.0, max(0.0, stalled / span)) if span > 0 else None

    def _metric_max(self, *keys: str) -> int | None:
        values = []
        for data in [p.data for p in self.probes] + [self.final_metrics]:
            value: Any = data
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, (int, float)):
                values.append(int(value))
        return max(values) if values else None

    @property
    def app_peak_in_flight(self) -> int | None:
        """Most requests the service had in progress at once (its /metrics), None if unknown."""
        return self._metric_max("peak_in_flight")

    @property
    def http_clients_created(self) -> int | None:
        """httpx clients the service had made by the end of the run (a client per request shows here)."""
        return self._metric_max("partner", "http_clients_created")

    @property
    def partner_connections_max(self) -> int | None:
        """Most connections the service held open to the partner at one /metrics read."""
        return self._metric_max("partner", "connections_open")

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """One line, the same shape whatever happened (so it reads, and diffs, the same every run)."""
        label = f"{self.label}: " if self.label else ""
        failed = self.sent - self.ok
        return (f"{label}{self.throughput:.0f} ok/s · p50 {self.p50:.3f} s · p99 {self.p99:.3f} s · "
                f"{failed} of {self.sent} not ok · loop lag {self.loop_lag:.2f} s "
                f"({self.probes_unanswered} of {len(self.probes)} /metrics reads unanswered)")


class _Progress:
    """A live line while the load runs: a widget in Jupyter, else one text line a second.

    Updated from a task on the loop (never from a thread), so text lines stay with their cell.
    """

    def __init__(self, label: str, planned: float | None, enabled: bool) -> None:
        self.label = label or "load"
        self.planned = planned
        self.enabled = enabled
        self.widgets = False
        self.last_print = 0.0
        if not enabled:
            return
        from ..display.meter import widgets_enabled

        if widgets_enabled():
            try:
                import ipywidgets as widgets
                from IPython.display import display

                self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                                 layout=widgets.Layout(width="140px"))
                self.html = widgets.HTML(value=self._html("starting…", "#555555"))
                display(widgets.HBox([self.bar, self.html]))
                self.widgets = True
            except Exception:
                self.widgets = False

    def _html(self, text: str, color: str) -> str:
        import html

        return (f"<span style='font-family:monospace'><b>{html.escape(self.label)}</b> · "
                f"<span style='color:{color}'>{html.escape(text)}</span></span>")

    def update(self, t: float, done: int, ok: int, lag: float, stuck: float, final: bool = False) -> None:
        if not self.enabled:
            return
        status = f"{t:.1f} s · {done} answered or failed · {ok} ok · service loop lag {lag:.2f} s"
        if stuck >= 0.5:
            status += f" · /metrics silent for {stuck:.1f} s"
        if self.widgets:
            color = "#d62728" if (lag >= 0.2 or stuck >= 0.5) else "#2a9d8f"
            self.html.value = self._html(("done · " if final else "") + status, color)
            self.bar.value = 1.0 if final else (min(1.0, t / self.planned) if self.planned else 0.5)
            self.bar.bar_style = "danger" if color == "#d62728" else ("success" if final else "info")
            return
        if not final and t - self.last_print >= 1.0:
            self.last_print = t
            print(f"  {self.label}: {status}", flush=True)


async def run_load(url: str, *, clients: int = 50, duration: float | None = None, requests: int | None = None,
                   rate: float | None = None, path_fn: Callable[[int], str] = user_path, timeout: float = 2.0,
                   metrics_path: str | None = "/metrics", metrics_every: float = 0.25, label: str = "",
                   progress: bool = True) -> LoadReport:
    """Put a bounded load on the service at `url` and measure it.

    clients   at most this many requests in flight at once (one connection each)
    duration  send for this many seconds, or
    requests  send exactly this many (with rate=None and requests=clients: one burst)
    rate      requests per second in all, spread evenly (None: each client sends again as
              soon as its answer arrives). A schedule that falls behind is never caught up by
              a flood: a request waits for a free client.
    path_fn   path of the i-th request, e.g. `user_path`
    timeout   a request with no answer after this long counts as a "timeout" (latency = timeout)
    metrics_path  read the service's /metrics every `metrics_every` s (None: don't)

    Returns a LoadReport: throughput (ok/s), p50/p99, status and error counts, and the service's
    loop lag as its /metrics saw it. The run ends when every request has an answer or a timeout.
    """
    import aiohttp

    if (duration is None) == (requests is None):
        raise ValueError("give exactly one of duration= or requests=")
    if clients < 1:
        raise ValueError("clients must be at least 1")
    base = url.rstrip("/")
    results: list[Result] = []
    probes: list[Probe] = []
    next_index = 0
    start = time.perf_counter()
    done = asyncio.Event()
    planned = duration if duration is not None else (requests / rate if rate else None)
    show = _Progress(label, planned, progress)

    def take() -> int | None:
        nonlocal next_index
        i = next_index
        if requests is not None and i >= requests:
            return None
        due = i / rate if rate else 0.0
        if duration is not None and (due if rate else time.perf_counter() - start) >= duration:
            return None
        next_index += 1
        return i

    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            i = take()
            if i is None:
                return
            if rate:
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            path = path_fn(i)
            sent = time.perf_counter()
            status: int | None = None
            error: str | None = None
            try:
                async with session.get(base + path) as response:
                    await response.read()
                    status = response.status
            except TimeoutError:
                error = "timeout"
            except aiohttp.ClientError as exc:
                error = type(exc).__name__
            now = time.perf_counter()
            results.append(Result(i, path, status, error, timeout if error == "timeout" else now - sent, now - start))

    async def sample(session: aiohttp.ClientSession) -> None:
        assert metrics_path is not None
        while not done.is_set():
            t0 = time.perf_counter()
            data = await _read_metrics(session, base + metrics_path, min(1.0, timeout))
            rtt = time.perf_counter() - t0
            probes.append(Probe(t0 - start, rtt, data))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, metrics_every - rtt)):
                    await done.wait()

    async def show_progress() -> None:
        while not done.is_set():
            _progress_update(show, start, results, probes)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await done.wait()

    final: dict[str, Any] | None = None
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as probe_session:
        async with asyncio.TaskGroup() as tg:
            helpers = []
            if metrics_path is not None:
                helpers.append(tg.create_task(sample(probe_session)))
            helpers.append(tg.create_task(show_progress()))
            try:
                async with asyncio.TaskGroup() as workers:
                    for _ in range(clients):
                        workers.create_task(client(session))
            finally:
                elapsed = time.perf_counter() - start
                done.set()
        if metrics_path is not None:
            final = await _read_metrics(probe_session, base + metrics_path, min(1.0, timeout))
    results.sort(key=lambda r: r.index)
    report = LoadReport(url=base, label=label, clients=clients, rate=rate, timeout=timeout, elapsed=elapsed,
                        results=results, probes=probes, final_metrics=final, window=duration)
    _progress_update(show, start, results, probes, final=True, elapsed=elapsed)
    return report


def _progress_update(show: _Progress, start: float, results: list[Result], probes: list[Probe],
                     final: bool = False, elapsed: float | None = None) -> None:
    if not show.enabled:
        return
    t = elapsed if elapsed is not None else time.perf_counter() - start
    ok = sum(1 for r in results if r.status is not None and 200 <= r.status < 300)
    lag = 0.0
    stuck = 0.0
    for p in probes[-4:]:
        lag = max(lag, p.rtt if p.data is None else float(p.data.get("loop", {}).get("lag_s", 0.0)))
    silent = 0.0
    for p in reversed(probes):
        if p.data is not None:
            break
        silent += p.rtt
    stuck = silent
    show.update(t, len(results), ok, lag, stuck, final=final)


async def _read_metrics(session: Any, url: str, timeout: float) -> dict[str, Any] | None:
    import aiohttp

    try:
        async with asyncio.timeout(timeout):
            async with session.get(url) as response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
                return data if isinstance(data, dict) and "loop" in data else None
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# One step of notebook 07: an app with some fixes, the same load, and what it cost


@dataclass
class StepResult:
    """One app, one load: steady traffic, an optional burst, then a last burst and SIGTERM.

    `partner` holds the partner's counters for this app only (a fresh scope): calls, most in
    flight at once, TCP connections, cancelled calls. `lost` counts answered views without an
    audit row after the app stopped.
    """

    label: str
    settings: dict[str, Any]
    steady: LoadReport
    burst: LoadReport | None
    last: LoadReport
    partner: dict[str, Any]
    burst_partner: dict[str, Any] | None
    stop: StopReport
    answered: int
    audit_rows: int

    @property
    def lost(self) -> int:
        return max(0, self.answered - self.audit_rows)

    def summary(self) -> str:
        """Two lines, the same shape whatever happened."""
        p = self.partner
        return (f"{self.steady.summary()}\n"
                f"   partner: {p['requests']} calls, at most {p['peak_in_flight']} at once, "
                f"{p['connections']} TCP connections · "
                f"audit: {self.lost} of {self.answered} answered views lost at shutdown")


async def run_step(api: Any, dsn: str, fixes: Iterable[str], *, label: str = "", clients: int = 200,
                   rate: float = 80, duration: float = 1.5, timeout: float = 2.0, burst: bool = False,
                   last_burst: int = 20, progress: bool = True, **overrides: Any) -> StepResult:
    """Start the reference app with `fixes`, load it, stop it, count its audit rows.

    api     an ApiHandle of the lab (a fresh scope is taken from it, so the counters are this app's)
    The load: `clients` clients sending `rate` requests/s for `duration` s (every kind of user);
    with `burst`, then `clients` requests at once for healthy users; then `last_burst` requests
    at once and SIGTERM as soon as they are answered (a deploy under traffic).
    """
    scoped = api.scoped()
    settings = default_settings(scoped.url, dsn, fixes=fixes, **overrides)
    app = await AppProcess.start(APP_FACTORY, settings, graceful_timeout=1.0)
    try:
        name = label or "+".join(settings["fixes"]) or "broken"
        steady = await run_load(app.url, clients=clients, duration=duration, rate=rate, path_fn=user_path,
                                timeout=timeout, label=name, progress=progress)
        partner = await scoped.stats()
        burst_report = burst_partner = None
        if burst:
            await scoped.reset()
            burst_report = await run_load(app.url, clients=clients, requests=clients,
                                          path_fn=healthy_user_path(settings), timeout=timeout,
                                          label=f"{name}, burst", progress=progress)
            burst_partner = await scoped.stats()
        last = await run_load(app.url, clients=last_burst, requests=last_burst, path_fn=healthy_user_path(settings),
                              timeout=timeout, metrics_path=None, progress=False)
        stop = await app.stop(grace=1.0)
    finally:
        await app.kill()
        app.cleanup()
    answered = steady.ok + last.ok + (burst_report.ok if burst_report else 0)
    rows = await count_audit_events(dsn, settings["run_id"])
    return StepResult(name, settings, steady, burst_report, last, partner, burst_partner, stop, answered, rows)


# --------------------------------------------------------------------------------------------
# Audit events and pictures


async def count_audit_events(dsn: str, run_id: str, *, user_ids: Iterable[int] | None = None,
                             timeout: float = 10.0) -> int:
    """How many audit events of run `run_id` (for these users only, if given) reached the events table."""
    import asyncpg

    sql = "SELECT count(*) FROM events WHERE payload->>'run' = $1"
    args: list[Any] = [run_id]
    if user_ids is not None:
        sql += " AND user_id = ANY($2::bigint[])"
        args.append(sorted(set(user_ids)))
    async with asyncio.timeout(timeout):
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(sql, *args))
        finally:
            await conn.close()


def plot_steps(steps: Sequence[StepResult], *, deadline: float | None = None,
               title: str = "The same load, one fix at a time") -> Figure:
    """Four panels, one row per step: p50/p99 latency, throughput, the service's loop lag, and the
    TCP connections the partner saw it open. Usage: `plot_steps([broken, with_async, ...])`."""
    from matplotlib.figure import Figure as _Figure

    from ..display.plots import figure_png

    class StepsFigure(_Figure):
        def _repr_png_(self) -> bytes:
            return figure_png(self)

    labels = [s.label for s in steps]
    reports = [s.steady for s in steps]
    fig = StepsFigure(figsize=(9.0, 1.4 + 0.36 * len(steps) * 2), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2, sharey=True)
    y = list(range(len(labels)))

    def finish(ax: Any, heading: str, log: bool, values: Sequence[float]) -> None:
        ax.set_title(heading, loc="left", fontsize=9, fontweight="bold")
        ax.tick_params(axis="x", labelsize=7)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(min([v for v in values if v > 0] + [0.01]) / 2, max([*values, 0.02]) * 6)
        else:
            ax.set_xlim(0, max([*values, 1e-9]) * 1.3)

    def bars(ax: Any, values: list[float], heading: str, fmt: str, color: str, log: bool = False) -> None:
        ax.barh(y, values, color=color, height=0.6)
        for i, v in enumerate(values):
            ax.annotate(fmt.format(v), (v, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        finish(ax, heading, log, values)

    ax = axes[0][0]
    p50, p99 = [r.p50 for r in reports], [r.p99 for r in reports]
    ax.barh([i - 0.18 for i in y], p50, height=0.36, color="#4c78a8", label="p50")
    ax.barh([i + 0.18 for i in y], p99, height=0.36, color="#d62728", label="p99")
    for i, v in enumerate(p99):
        ax.annotate(f"{v:.2f} s", (v, i + 0.18), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    if deadline is not None:
        ax.axvline(deadline, color="#333333", ls="--", lw=1, label=f"deadline {deadline:.2f} s")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.85)
    finish(ax, "latency (s, log scale)", True, p50 + p99)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    bars(axes[0][1], [r.throughput for r in reports], "throughput (ok answers/s)", "{:.0f}", "#2a9d8f")
    bars(axes[1][0], [max(r.loop_lag, 0.001) for r in reports], "service loop lag (s, log scale)", "{:.2f} s",
         "#f4a261", log=True)
    bars(axes[1][1], [float(s.partner["connections"]) for s in steps],
         "TCP connections opened to the partner", "{:.0f}", "#8d99ae")
    axes[1][0].set_yticks(y, labels)
    fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
    return fig


if __name__ == "__main__":
    sys.exit(_serve_main())
