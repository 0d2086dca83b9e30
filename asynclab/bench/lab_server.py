"""The lab's HTTP server: requests per second, next to a thread-per-connection server.

Reuses `asynclab.services.throughput.measure` (the measurement docs/lab-services.md reports):
both servers answer the same `/delay?ms=20` in a process of their own, loaded by 50 workers
sharing one aiohttp session whose connections are opened before timing starts. The ideal is
concurrency / delay = 2,500 requests/s. aiohttp's client, not httpx: at 50 concurrent
requests httpx's pool costs more CPU than either server (docs/lab-services.md), so httpx rows
would measure httpx. Higher is better here; the ratio is measured / ideal.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..services.throughput import LAB_SERVER, THREADED_SERVER, measure
from .report import Row, Skip, Target

TITLE = "lab HTTP server"
DEADLINE = 60
REQUESTS, CONCURRENCY, DELAY_MS = 3000, 50, 20
NAME = f"lab API throughput: {CONCURRENCY} concurrent, /delay {DELAY_MS} ms"


def rows_sync(quick: bool = False) -> Iterator[Row | Skip]:
    requests = 300 if quick else REQUESTS
    results = measure(requests=requests, concurrency=CONCURRENCY, delays_ms=(DELAY_MS,), clients=("aiohttp",))
    by_server = {r["server"]: r for r in results}
    lab = by_server[LAB_SERVER]
    yield _row(lab, "fixed", "aiohttp server (the lab API)")
    yield _row(by_server[THREADED_SERVER], "baseline", "ThreadingHTTPServer").against(lab["rps"])


def _row(r: dict[str, object], variant: str, what: str) -> Row:
    cpu = r["server_cpu"]
    cpu_text = "" if cpu is None else f", server CPU {cpu:.0%} of a core"
    return Row(NAME, variant, measured=float(r["rps"]), ideal=float(r["ideal_rps"]), unit="req/s",  # type: ignore[arg-type]
               better="higher", target=Target.within(1.3) if variant == "fixed" else None,
               note=f"{what}: {r['requests']} requests in {r['seconds']:.2f} s, {r['errors']} errors{cpu_text}")
