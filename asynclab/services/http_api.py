"""The fault-injecting HTTP API: a real server whose misbehaviour is set by query parameters.

Run it as its own process (never on the notebook's loop, which is the thing being stalled):

    python -m asynclab.services.http_api --port 0 [--parent-pid N]

It binds 127.0.0.1 only and prints one line, `ASYNCLAB_API_URL=http://127.0.0.1:PORT`, once it
is listening. Every endpoint also lives under `/s/{scope}/...`; the counters (requests,
in-flight, peak, connections, disconnects, statuses) are kept per scope so that two checks
running at once never see each other's traffic. `/_lab/*` is the control plane and is not
counted. See docs/lab-services.md for the endpoint table.

The runner is built with `handler_cancellation=True`: since aiohttp 3.9 a handler is *not*
cancelled when its client goes away unless asked, and then disconnects could never be
counted nor in-flight counts drop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import weakref
from collections.abc import Awaitable, Callable

from aiohttp import web

from .http_endpoints import (
    DEFAULT_SCOPE,
    ROUTES,
    SCOPE_ALLOWED,
    SCOPE_PATTERN,
    BadParam,
    Handler,
    Scope,
    json_response,
    not_found,
    valid_scope,
)

HOST = "127.0.0.1"
READY_KEY = "ASYNCLAB_API_URL"


# --- counting and the control plane -----------------------------------------------------

class Counters:
    """All scopes, plus which TCP connections have been attributed to one already."""

    def __init__(self) -> None:
        self.scopes: dict[str, Scope] = {}
        self._seen: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    def scope(self, name: str) -> Scope:
        found = self.scopes.get(name)
        if found is None:
            found = self.scopes[name] = Scope(name)
        return found

    def counted(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap an endpoint so that it counts into the scope named in its path."""

        async def endpoint(request: web.Request) -> web.StreamResponse:
            scope = self.scope(request.match_info.get("scope", DEFAULT_SCOPE))
            scope.requests += 1
            transport = request.transport
            if transport is not None and transport not in self._seen:
                self._seen.add(transport)  # a connection belongs to the scope of its first request
                scope.connections += 1
            scope.in_flight += 1
            if scope.in_flight > scope.peak_in_flight:
                scope.peak_in_flight = scope.in_flight
            try:
                try:
                    response = await handler(request, scope)
                except BadParam as exc:
                    response = json_response({"error": str(exc)}, status=400)
            except (asyncio.CancelledError, ConnectionResetError):
                scope.disconnects += 1  # the client went away before the answer was complete
                raise
            finally:
                scope.in_flight -= 1
            scope.completed += 1
            key = str(response.status)
            scope.status[key] = scope.status.get(key, 0) + 1
            return response

        return endpoint

    async def health(self, request: web.Request) -> web.StreamResponse:
        return json_response({"ok": True, "pid": os.getpid()})

    def _named_scope(self, request: web.Request, default: str | None) -> str | None:
        name = request.match_info.get("scope") or request.query.get("scope") or default
        if name is not None and not valid_scope(name):
            raise BadParam("scope", SCOPE_ALLOWED, name)
        return name

    async def stats(self, request: web.Request) -> web.StreamResponse:
        try:
            name = self._named_scope(request, DEFAULT_SCOPE)
        except BadParam as exc:
            return json_response({"error": str(exc)}, status=400)
        assert name is not None
        found = self.scopes.get(name)
        return json_response(found.snapshot() if found is not None else Scope(name).snapshot())

    async def reset(self, request: web.Request) -> web.StreamResponse:
        try:
            name = self._named_scope(request, None)
        except BadParam as exc:
            return json_response({"error": str(exc)}, status=400)
        targets = list(self.scopes.values()) if name is None else [self.scope(name)]
        for scope in targets:
            scope.reset()
        return json_response({"ok": True, "reset": sorted(s.name for s in targets)})


def create_app() -> web.Application:
    """The application, with every route twice: plain (scope "default") and under /s/{scope}."""
    counters = Counters()
    app = web.Application()
    for prefix in ("", "/s/{scope:" + SCOPE_PATTERN + "}"):
        for path, handler in ROUTES.items():
            app.router.add_get(prefix + path, counters.counted(handler))
        app.router.add_get(prefix + "/_lab/health", counters.health)
        app.router.add_get(prefix + "/_lab/stats", counters.stats)
        app.router.add_post(prefix + "/_lab/reset", counters.reset)
    # Catch-alls last: the most specific match wins in aiohttp's router.
    app.router.add_route("*", "/s/{scope:" + SCOPE_PATTERN + "}/{tail:.*}", counters.counted(not_found))
    app.router.add_route("*", "/{tail:.*}", counters.counted(not_found))
    return app


# --- the process ------------------------------------------------------------------------

def _raise_fd_limit() -> None:
    """Let the server hold as many sockets as the OS allows, so a client hits its own limit first."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


async def serve(port: int = 0) -> None:
    """Serve until SIGTERM or SIGINT, then close within about a second even with /hang open."""
    runner = web.AppRunner(create_app(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, port, backlog=1024)
        await site.start()
        bound_port = runner.addresses[0][1]
        print(f"{READY_KEY}=http://{HOST}:{bound_port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.services.http_api", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process dies")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        from .child import watch_parent

        watch_parent(args.parent_pid)
    _raise_fd_limit()
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
