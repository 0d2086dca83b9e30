"""Notebook 04 · which HTTP client: httpx, httpx2 and aiohttp's client, same server, same run.

`asynclab.lessons.n04_clients.compare_clients` (the measurement notebook 04 shows): REQUESTS
GETs of /delay?ms=DELAY_MS from CONCURRENCY workers sharing one session with the client's
*default* limits, each client on its own counter scope of the lab API.

Rows (variant `fixed` is httpx2, the client the course recommends for production; httpx, the
teaching client, and aiohttp's client are `baseline` rows, named in their notes)
- requests/s. Ideal: concurrency / delay. The note gives the client's CPU share (CPU seconds
  per wall second of this process: near 100 % of a core, the client is the limit) and its CPU
  per request.
- TCP connections the server accepted for BURST requests sent at once (`burst_connections`).
  Ideal: 100, the default max_connections. httpx 0.28/0.29 on httpcore 1.0.x opens about one
  per request: its pool closes the connection a response just freed whenever it holds more than
  max_keepalive_connections (20) in all, even with requests waiting (encode/httpcore#1000).
- client CPU per request (ms). Ideal: aiohttp's, measured in the same run (the cheapest
  client here, so the floor this machine shows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..lab import Lab
from ..lessons.n04_clients import ClientRun, burst_connections, compare_clients
from .common import settle
from .report import Row, Skip, Target

TITLE = "04 HTTP clients"
DEADLINE = 90
REQUESTS, CONCURRENCY, DELAY_MS = 1000, 50, 20
BURST, DEFAULT_MAX_CONNECTIONS = 200, 100
FIXED = "httpx2"
ORDER = ("httpx2", "httpx", "aiohttp")


def _what(run: ClientRun) -> str:
    lib = {"httpx": "httpcore", "httpx2": "httpcore2", "aiohttp": "aiohttp"}[run.client]
    return f"{run.client} ({lib} {run.pool_version})"


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    requests = 200 if quick else REQUESTS
    settle()
    runs = await compare_clients(lab.api, requests=requests, concurrency=CONCURRENCY, delay_ms=DELAY_MS, clients=ORDER)
    fixed = runs[FIXED]
    setting = f"{CONCURRENCY} concurrent, /delay {DELAY_MS} ms, default limits"

    name = f"clients: requests/s, {requests} requests, {setting}"
    ideal = CONCURRENCY * 1000 / DELAY_MS
    rate_rows: dict[str, Row] = {}
    for client in ORDER:
        run = runs[client]
        row = Row(name, "fixed" if client == FIXED else "baseline", run.rps, ideal, "req/s", better="higher",
                  note=f"{_what(run)}: client CPU {run.cpu_share:.0%} of a core, {run.cpu_ms_per_request:.2f} ms "
                       f"per request; {run.connections} connections opened; {run.errors} errors; "
                       f"ideal = {CONCURRENCY} / {DELAY_MS} ms")
        rate_rows[client] = row if client == FIXED else row.against(rate_rows[FIXED])
        yield rate_rows[client]

    burst = {client: await burst_connections(lab.api, client, requests=BURST) for client in ORDER}
    name = f"clients: TCP connections opened for {BURST} requests sent at once, default limits"
    fixed_conn = Row(name, "fixed", burst[FIXED], DEFAULT_MAX_CONNECTIONS, "connections", target=Target.within(1.3),
                     note=f"{_what(fixed)}; counted by the server; ideal = the default max_connections")
    yield fixed_conn
    for client in ORDER[1:]:
        why = (" (httpcore 1.0.x closes the connection a response freed whenever the pool holds more than 20, "
               "even with requests waiting: encode/httpcore#1000)" if client == "httpx" else "")
        yield Row(name, "baseline", burst[client], DEFAULT_MAX_CONNECTIONS, "connections",
                  note=f"{_what(runs[client])}; counted by the server{why}").against(fixed_conn)

    floor = runs["aiohttp"].cpu_ms_per_request
    name = f"clients: client CPU per request (ms), {requests} requests, {setting}"
    fixed_cpu = Row(name, "fixed", fixed.cpu_ms_per_request, floor, "ms",
                    note=f"{_what(fixed)}: {fixed.cpu_share:.0%} of a core over {fixed.seconds:.2f} s; "
                         "ideal = aiohttp's client in the same run")
    yield fixed_cpu
    for client in ORDER[1:]:
        run = runs[client]
        yield Row(name, "baseline", run.cpu_ms_per_request, floor, "ms",
                  note=f"{_what(run)}: {run.cpu_share:.0%} of a core over {run.seconds:.2f} s").against(fixed_cpu)
