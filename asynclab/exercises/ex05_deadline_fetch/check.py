"""The check of 05-deadline-fetch: `fetch_with_deadline(client, url, seconds)` against servers that
do not answer in time (notebook 05 · Timeouts on everything).

It hands the learner's function, on an event loop of its own (`run_on_own_loop`: code that
swallows `CancelledError` still gets a verdict in seconds), in this order:

1. a fast body and a short trickle: both must come back, through the client it was given;
2. /hang (a client with no timeout), slow headers (the client's own read timeout fires first),
   a trickle that never trips a per-read timeout, a 500: each must end in
   `asynclab.ServiceUnavailable` within the deadline + SLACK, never an httpx exception, and the
   server's scope counters must show the request cancelled (a disconnect, none in flight);
3. a 404, last: the caller's mistake must raise, and not as ServiceUnavailable.

What each measurement means is decided in judge.py.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import httpx

from ...grading.measure import BoundedCall, bounded_call, poll_until, require_coroutine_function, run_on_own_loop
from ...grading.registry import Verdict, exercise, passed
from ...lab import Lab
from .judge import FAST_DEADLINE, SERVER_SETTLE, FastCall, Slow, SlowCall, judge_client_error, judge_fast, judge_slow

BOUND_EXTRA = 1.5  # how long past the deadline a call may run before the check stops it

SLOW_CASES = (
    Slow("hang", "/hang", None, 0.5, "the server never answers and the client has no timeout of its own"),
    Slow("slow-headers", "/slow-headers?ms=1500", 0.3, 1.0,
         "the headers come after 1.5 s, and the client's own read timeout (0.3 s) fires first"),
    Slow("trickle", "/trickle?bytes=100&every_ms=100", 0.5, 1.0,
         "one byte every 0.1 s for 10 s: never 0.5 s of silence, so httpx's per-read timeout never fires"),
    Slow("server-error", "/error?rate=1&status=500", 2.0, 1.0, "the server answers 500 at once", cancels=False),
)

Fetch = Callable[..., Awaitable[Any]]


def _client(timeout: float | None, sent: list[str]) -> httpx.AsyncClient:
    async def count(request: httpx.Request) -> None:
        sent.append(str(request.url))

    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False, event_hooks={"request": [count]})


async def _close(client: httpx.AsyncClient) -> None:
    try:
        async with asyncio.timeout(1.0):
            await client.aclose()
    except Exception:  # noqa: BLE001 - best effort: the learner's code may still hold it
        pass


async def _call(fetch: Fetch, url: str, seconds: float, client_timeout: float | None,
                look: Callable[[], Awaitable[Any]] | None = None,
                after: Callable[[BoundedCall], Awaitable[Any]] | None = None) -> tuple[BoundedCall, int, Any]:
    """One bounded call through a fresh client: the call, how many requests went through that client,
    and what `after(call)` read while the client was still open (closing it would end the request)."""
    sent: list[str] = []
    client = _client(client_timeout, sent)
    try:
        call = await bounded_call(lambda: fetch(client, url, seconds), seconds + BOUND_EXTRA, look=look)
        seen = await after(call) if after is not None else None
    finally:
        await _close(client)
    return call, len(sent), seen


async def _fast(fetch: Fetch, lab: Lab, path: str, expected: str, what: str) -> FastCall:
    handle = lab.api.scoped()
    call, sent, _ = await _call(fetch, f"{handle.url}{path}", FAST_DEADLINE, 0.3)
    return FastCall(what, expected, call, sent)


async def _slow(fetch: Fetch, lab: Lab, case: Slow) -> SlowCall:
    handle = lab.api.scoped()

    async def server_side(call: BoundedCall) -> Any:
        if not call.finished:
            return call.snapshot  # as the learner's code left it, before the check cancelled it
        # the scope's counters once the request is over at the server
        return await poll_until(handle.stats, lambda s: s["in_flight"] == 0 and (s["disconnects"] >= 1 or not case.cancels),
                                within=SERVER_SETTLE)

    call, _, stats = await _call(fetch, f"{handle.url}{case.path}", case.seconds, case.client_timeout,
                                 look=handle.stats, after=server_side)
    return SlowCall(case, call, stats)


@exercise(__file__)
async def check_deadline_fetch(module: ModuleType, lab: Lab) -> Verdict:
    fetch = require_coroutine_function(module, "fetch_with_deadline")

    async def body() -> str:
        token = secrets.token_hex(4)
        fast = judge_fast(await _fast(fetch, lab, f"/delay?ms=50&id={token}", json.dumps({"id": token, "slept_ms": 50}),
                                      "a fast server (50 ms)"))
        judge_fast(await _fast(fetch, lab, "/trickle?bytes=5&every_ms=40", "01234", "a short trickle (5 bytes in 0.2 s)"))
        results = []
        for case in SLOW_CASES:
            results.append((case.name, judge_slow(await _slow(fetch, lab, case)), case.seconds))
        handle = lab.api.scoped()
        call, _, _ = await _call(fetch, f"{handle.url}/error?rate=1&status=404", FAST_DEADLINE, 0.3)
        client_error = judge_client_error(call)
        late = max(max(0.0, elapsed - seconds) for _, elapsed, seconds in results)
        return (f"fast {fast:.2f} s; gave up: " + ", ".join(f"{name} {elapsed:.2f} s" for name, elapsed, _ in results)
                + f"; at most {late:.2f} s past a deadline; a 404 raised {client_error}")

    measured = await run_on_own_loop(body, 40, name="asynclab-05-learner-loop")
    return passed("gave up in time against hang, slow headers, trickle and a 500, with ServiceUnavailable; "
                  "the server saw each request cancelled; a 404 was raised as the caller's error.", measured=measured)
