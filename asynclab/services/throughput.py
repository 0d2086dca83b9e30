"""How many requests a second the lab's API serves, next to a thread-per-connection server.

    python -m asynclab.services.throughput [--requests 1000] [--concurrency 50] [--delays 0,20]

The lab API must never be the bottleneck of an exercise, so this puts a number on it. Both
servers answer the same `GET /delay?ms=N` (sleep, then a small JSON body), each in its own
process on 127.0.0.1, and both get the same load: `concurrency` workers sharing one client
and its keep-alive connections. Server and client CPU are reported next to the rate: a
process near 100 % of a core is the limit.

Two clients drive the load. httpx is the one the course uses; at 50 concurrent requests its
connection pool costs more CPU than the server does (encode/httpcore#1035), so its rows
measure httpx. aiohttp's client is cheap enough to find the servers' own limits.

`measure()` returns the rows, for the benchmark suite to reuse.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx

from .api_client import start_api
from .child import Child, spawn

THREADED_READY_KEY = "ASYNCLAB_THREADED_URL"
LAB_SERVER = "aiohttp (lab API)"
THREADED_SERVER = "ThreadingHTTPServer"


# --- the comparison server: the same /delay, one thread per connection -----------------------

class _DelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the lab API does: compare servers, not handshakes
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms on Linux). aiohttp sets TCP_NODELAY too, so this keeps it fair.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming convention
        url = urlsplit(self.path)
        if url.path != "/delay":
            self._answer(404, {"error": f"no endpoint {url.path}"})
            return
        try:
            ms = int(parse_qs(url.query).get("ms", ["100"])[0])
        except ValueError:
            self._answer(400, {"error": "ms: an integer"})
            return
        time.sleep(ms / 1000)
        self._answer(200, {"id": None, "slept_ms": ms})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # no per-request logging, as in the lab API
        pass


class _ThreadedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default of 5 drops connections under a burst


def serve_threaded(port: int = 0) -> None:
    """Run the comparison server until killed."""
    server = _ThreadedServer(("127.0.0.1", port), _DelayHandler)
    print(f"{THREADED_READY_KEY}=http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def start_threaded(timeout: float = 30) -> Child:
    """The comparison server in a child process of ours; `child.value` is its URL."""
    return spawn("threaded-http", "asynclab.services.throughput", ["--serve-threaded", "--port", "0"],
                 THREADED_READY_KEY, timeout)


# --- the load ----------------------------------------------------------------------------------

async def drive(url: str, requests: int, concurrency: int, *, client: str = "httpx",
                server_pid: int | None = None) -> dict[str, Any]:
    """Send `requests` GETs to `url` from `concurrency` workers sharing one `client` session.

    `client` is "httpx" or "aiohttp". The pool is opened first (`concurrency` requests, not
    timed), so the rate measures requests on open connections, not TCP handshakes. With
    `server_pid`, the server's CPU share over the timed part is reported too.
    """
    get = _httpx_get if client == "httpx" else _aiohttp_get if client == "aiohttp" else None
    if get is None:
        raise ValueError(f"client: 'httpx' or 'aiohttp', got {client!r}")
    errors = 0

    async def worker(todo: Iterator[int], send: Callable[[], Awaitable[int]]) -> None:
        nonlocal errors
        for _ in todo:
            try:
                if await send() != 200:
                    errors += 1
            except (httpx.HTTPError, aiohttp.ClientError):
                errors += 1

    async with get(url, concurrency) as send:
        await asyncio.gather(*(send() for _ in range(concurrency)))
        todo = iter(range(requests))  # shared: each worker takes the next request
        server_before = _cpu_seconds(server_pid)
        cpu, started = time.process_time(), time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(worker(todo, send))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_after = _cpu_seconds(server_pid)
    return {"client": client, "requests": requests, "concurrency": concurrency, "seconds": seconds,
            "rps": requests / seconds, "errors": errors, "client_cpu": cpu / seconds,
            "server_cpu": None if server_before is None or server_after is None else (server_after - server_before) / seconds}


@contextlib.asynccontextmanager
async def _httpx_get(url: str, connections: int) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as session:
        async def send() -> int:
            return (await session.get(url)).status_code

        yield send


@contextlib.asynccontextmanager
async def _aiohttp_get(url: str, connections: int) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def send() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        yield send


def _cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a test dependency, not a hard one
        return None
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def _measure_all(servers: Sequence[tuple[str, str, int]], clients: Sequence[str],
                       delays_ms: Sequence[int], requests: int, concurrency: int) -> list[dict[str, Any]]:
    rows = []
    for client in clients:
        for ms in delays_ms:
            for name, base_url, pid in servers:
                row = await drive(f"{base_url}/delay?ms={ms}", requests, concurrency, client=client, server_pid=pid)
                rows.append({"server": name, "delay_ms": ms, **row, "ideal_rps": concurrency * 1000 / ms if ms else None})
    return rows


def measure(requests: int = 1000, concurrency: int = 50, delays_ms: Sequence[int] = (0, 20),
            clients: Sequence[str] = ("httpx", "aiohttp")) -> list[dict[str, Any]]:
    """Start both servers, load each with every client and delay in turn, stop them.

    One row per run: server, client, delay_ms, requests, concurrency, seconds, rps, ideal_rps
    (concurrency / delay; None for 0 ms), errors, client_cpu and server_cpu (shares of one
    core; server_cpu is None without psutil).
    """
    api, api_child = start_api()
    try:
        threaded = start_threaded()
        try:
            servers = [(LAB_SERVER, api.base_url, api_child.process.pid),
                       (THREADED_SERVER, threaded.value, threaded.process.pid)]
            return asyncio.run(_measure_all(servers, clients, delays_ms, requests, concurrency))
        finally:
            threaded.stop()
    finally:
        api_child.stop()


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (the docs paste it as is)."""
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    head = ["client", "server", "delay", "requests", "concurrency", "seconds", "req/s", "ideal req/s",
            "server CPU", "client CPU", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r["client"], r["server"], f"{r['delay_ms']} ms", r["requests"], r["concurrency"], f"{r['seconds']:.2f}",
                 f"{r['rps']:.0f}", "-" if r["ideal_rps"] is None else f"{r['ideal_rps']:.0f}",
                 pct(r["server_cpu"]), pct(r["client_cpu"]), r["errors"]]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.services.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per run (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent workers and connections (default 50)")
    parser.add_argument("--delays", default="0,20", help="comma-separated server delays in ms (default 0,20)")
    parser.add_argument("--clients", default="httpx,aiohttp", help="comma-separated: httpx, aiohttp (default both)")
    parser.add_argument("--serve-threaded", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_threaded:
        if args.parent_pid is not None:
            from .child import watch_parent

            watch_parent(args.parent_pid)
        serve_threaded(args.port)
        return 0
    delays = [int(part) for part in args.delays.split(",") if part.strip()]
    clients = [part.strip() for part in args.clients.split(",") if part.strip()]
    print(format_table(measure(args.requests, args.concurrency, delays, clients)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
