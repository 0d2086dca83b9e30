"""`/metrics` for any FastAPI app: the app's own loop lag, requests in flight, sockets to the partner.

Why inside the app: only the app's process can see its own event loop. The load generator reads
`/metrics` while it runs, so a lag shows up in the measurement of the very load that caused it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServiceMetrics", "add_metrics", "count_http_clients"]

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
        from ...instruments.loop_monitor import LoopMonitor

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
