"""The lab API's endpoints: what each fault does, its query parameters, and the per-scope counts.

Kept apart from http_api.py (the server process, the counting wrapper and the control plane) so
that adding a fault means reading one module. Every parameter is range-checked: a bad value is a
400 whose body names the parameter and its range.
"""


from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from typing import NoReturn

from aiohttp import web

DEFAULT_SCOPE = "default"
SCOPE_PATTERN = r"[A-Za-z0-9_.\-]{1,64}"
SCOPE_ALLOWED = "1 to 64 characters from A-Z a-z 0-9 _ . -"
MAX_MS = 60_000
MAX_SEED = 2**32 - 1
MAX_ID_CHARS = 200
_SCOPE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")

# (method, path with defaults, what it is for): the 404 body and the docs list the same thing.
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("GET", "/delay?ms=100&jitter=0&id=&seed=0", "sleep ms (+/- seeded jitter), then answer"),
    ("GET", "/error?rate=0.5&status=500&seed=0&id=&ms=0", "fail with status at a seeded rate"),
    ("GET", "/hang", "never answer"),
    ("GET", "/trickle?bytes=20&every_ms=100", "headers now, then one byte every every_ms"),
    ("GET", "/slow-headers?ms=1000", "send nothing at all for ms, then a fast answer"),
    ("GET", "/capped?limit=10&ms=100", "429 at once when more than limit are in flight"),
    ("GET", "/rate?rps=10&burst=10&ms=0", "token bucket: 429 with Retry-After over the rate"),
    ("GET", "/outage?down_ms=1000&status=503&retry_after=1&ms=0",
     "fail with status (and Retry-After) for down_ms after the scope's first /outage, then recover"),
    ("GET", "/items?n=10&ms=0", "a deterministic list of n items"),
    ("GET", "/users/{user_id}?ms=0", "a deterministic user profile; 404 for ids < 1"),
    ("GET", "/_lab/health", "liveness; not counted"),
    ("GET", "/_lab/stats?scope=default", "counters of one scope; not counted"),
    ("POST", "/_lab/reset?scope=", "zero one scope's counters, all scopes without scope; not counted"),
)


class BadParam(Exception):
    """A query parameter outside its range: answered with 400 and a message naming it."""

    def __init__(self, name: str, allowed: str, got: str) -> None:
        shown = got if len(got) <= 40 else got[:37] + "..."
        super().__init__(f"{name}: {allowed}, got {shown!r}")


class Scope:
    """The counters of one scope. Mutated only on the server's loop, so no locks."""

    __slots__ = ("name", "requests", "in_flight", "peak_in_flight", "connections", "disconnects",
                 "completed", "status", "sequence", "capped", "buckets", "outage_started")

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_flight = 0
        self.capped = 0  # /capped requests holding a slot now
        self.reset()

    def reset(self) -> None:
        """Zero the counts. In-flight is a fact about now, not a count, so it survives."""
        self.requests = 0
        self.peak_in_flight = self.in_flight
        self.connections = 0
        self.disconnects = 0
        self.completed = 0
        self.status: dict[str, int] = {}
        self.sequence: dict[str, int] = {}
        self.buckets: dict[tuple[float, int], _Bucket] = {}
        self.outage_started: float | None = None  # loop time of the first /outage request

    def next_in_sequence(self, endpoint: str) -> int:
        """Number the id-less requests of an endpoint, so their seeded draws repeat after a reset."""
        n = self.sequence.get(endpoint, 0)
        self.sequence[endpoint] = n + 1
        return n

    def snapshot(self) -> dict[str, object]:
        return {
            "scope": self.name,
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "connections": self.connections,
            "disconnects": self.disconnects,
            "completed": self.completed,
            "status": dict(self.status),
        }


class _Bucket:
    """A token bucket: `burst` tokens, refilled at `rps` per second."""

    __slots__ = ("rps", "burst", "tokens", "updated")

    def __init__(self, rps: float, burst: int, now: float) -> None:
        self.rps, self.burst, self.tokens, self.updated = rps, burst, float(burst), now

    def take(self, now: float) -> float:
        """Take a token; return 0 on success, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rps)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rps


# --- query parameters -------------------------------------------------------------------

def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value: int | None = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise BadParam(name, f"an integer from {low} to {high}", raw)
    return value


def _float(request: web.Request, name: str, default: float, low: float, high: float, *, open_low: bool = False) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and (low < value if open_low else low <= value) and value <= high
    if not ok:
        allowed = f"a number above {low:g} and at most {high:g}" if open_low else f"a number from {low:g} to {high:g}"
        raise BadParam(name, allowed, raw)
    return value


def _id(request: web.Request) -> str | None:
    raw = request.query.get("id")
    if raw is not None and len(raw) > MAX_ID_CHARS:
        raise BadParam("id", f"at most {MAX_ID_CHARS} characters", raw)
    return raw


def _ms(request: web.Request, default: int = 0) -> int:
    return _int(request, "ms", default, 0, MAX_MS)


def valid_scope(name: str) -> bool:
    return 0 < len(name) <= 64 and _SCOPE_CHARS.issuperset(name)


def _rng(endpoint: str, seed: int, key: str) -> random.Random:
    """A generator fixed by (endpoint, seed, key): the same request draws the same number in every run."""
    return random.Random(f"{endpoint}:{seed}:{key}")


def _key(scope: Scope, endpoint: str, request_id: str | None) -> str:
    return request_id if request_id is not None else f"#{scope.next_in_sequence(endpoint)}"


async def _sleep_ms(ms: int) -> None:
    if ms:
        await asyncio.sleep(ms / 1000)


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# --- the endpoints ----------------------------------------------------------------------

Handler = Callable[[web.Request, Scope], Awaitable[web.StreamResponse]]


async def delay(request: web.Request, scope: Scope) -> web.StreamResponse:
    ms = _ms(request, 100)
    jitter = _int(request, "jitter", 0, 0, MAX_MS)
    seed = _int(request, "seed", 0, 0, MAX_SEED)
    request_id = _id(request)
    if jitter:
        ms = max(0, ms + _rng("delay", seed, _key(scope, "delay", request_id)).randint(-jitter, jitter))
    await _sleep_ms(ms)
    return json_response({"id": request_id, "slept_ms": ms})


async def error(request: web.Request, scope: Scope) -> web.StreamResponse:
    rate = _float(request, "rate", 0.5, 0.0, 1.0)
    status = _int(request, "status", 500, 400, 599)
    seed = _int(request, "seed", 0, 0, MAX_SEED)
    request_id = _id(request)
    ms = _ms(request)
    fails = _rng("error", seed, _key(scope, "error", request_id)).random() < rate
    await _sleep_ms(ms)
    if fails:
        return json_response({"id": request_id, "ok": False, "error": f"injected failure {status}"}, status=status)
    return json_response({"id": request_id, "ok": True})


async def hang(request: web.Request, scope: Scope) -> NoReturn:
    await asyncio.Event().wait()  # only a disconnect (cancellation) or shutdown ends this
    raise AssertionError("unreachable")


async def trickle(request: web.Request, scope: Scope) -> web.StreamResponse:
    n = _int(request, "bytes", 20, 1, 100_000)
    every_ms = _int(request, "every_ms", 100, 1, MAX_MS)
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.content_length = n
    await response.prepare(request)  # sends the status line and headers now
    for i in range(n):
        await asyncio.sleep(every_ms / 1000)
        await response.write(b"0123456789"[i % 10 : i % 10 + 1])
    await response.write_eof()
    return response


async def slow_headers(request: web.Request, scope: Scope) -> web.StreamResponse:
    ms = _ms(request, 1000)
    await _sleep_ms(ms)  # aiohttp writes nothing, not even the status line, until we return
    return json_response({"ok": True, "waited_ms": ms})


async def capped(request: web.Request, scope: Scope) -> web.StreamResponse:
    limit = _int(request, "limit", 10, 1, 100_000)
    ms = _ms(request, 100)
    if scope.capped >= limit:
        return json_response({"error": f"over capacity: {limit} requests already in flight"}, status=429)
    scope.capped += 1
    admitted = scope.capped  # how many held a slot, this one included, when it got in
    try:
        await _sleep_ms(ms)
    finally:
        scope.capped -= 1
    return json_response({"ok": True, "limit": limit, "in_flight": admitted})


async def rate(request: web.Request, scope: Scope) -> web.StreamResponse:
    rps = _float(request, "rps", 10.0, 0.0, 100_000.0, open_low=True)
    burst = _int(request, "burst", 10, 1, 100_000)
    ms = _ms(request)
    now = asyncio.get_running_loop().time()
    bucket = scope.buckets.get((rps, burst))
    if bucket is None:
        bucket = scope.buckets[(rps, burst)] = _Bucket(rps, burst, now)
    wait = bucket.take(now)
    if wait:
        retry_after = max(1, math.ceil(wait))
        return json_response({"error": f"rate limited: {rps:g} requests/s, burst {burst}", "retry_after": retry_after},
                     status=429, headers={"Retry-After": str(retry_after)})
    await _sleep_ms(ms)
    return json_response({"ok": True})


async def outage(request: web.Request, scope: Scope) -> web.StreamResponse:
    """A partner that is down for a while and then recovers: the scripted partner of 08's retries."""
    down_ms = _int(request, "down_ms", 1000, 0, MAX_MS)
    status = _int(request, "status", 503, 400, 599)
    if status != 429 and status < 500:
        raise BadParam("status", "429 or an integer from 500 to 599", str(status))
    retry_after = _int(request, "retry_after", 1, 0, 3600)
    ms = _ms(request)
    now = asyncio.get_running_loop().time()
    if scope.outage_started is None:
        scope.outage_started = now
    down_for = scope.outage_started + down_ms / 1000 - now
    if down_for > 0:
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return json_response({"error": f"down for {down_for:.3f} s more", "retry_after": retry_after},
                     status=status, headers=headers)
    await _sleep_ms(ms)
    return json_response({"ok": True, "recovered": True})


def _money(rng: random.Random) -> float:
    return round(rng.uniform(1, 500), 2)


async def items(request: web.Request, scope: Scope) -> web.StreamResponse:
    n = _int(request, "n", 10, 0, 10_000)
    await _sleep_ms(_ms(request))
    return json_response({"items": [{"id": i, "name": f"item-{i}", "price": _money(_rng("item", 0, str(i)))}
                            for i in range(1, n + 1)]})


TIERS = ("free", "pro", "enterprise")


async def user(request: web.Request, scope: Scope) -> web.StreamResponse:
    raw = request.match_info["user_id"]
    try:
        user_id = int(raw)
    except ValueError:
        raise BadParam("user_id", "an integer", raw) from None
    if abs(user_id) > 2**63 - 1:
        raise BadParam("user_id", f"an integer up to {2**63 - 1}", raw)
    await _sleep_ms(_ms(request))
    if user_id < 1:
        return json_response({"error": f"no user {user_id}: user ids start at 1"}, status=404)
    rng = _rng("user", 0, str(user_id))
    return json_response({"id": user_id, "tier": rng.choice(TIERS), "score": rng.randint(0, 1000)})


async def not_found(request: web.Request, scope: Scope) -> web.StreamResponse:
    path = request.path
    if path.startswith("/s/") and "scope" not in request.match_info:
        name = path[3:].partition("/")[0]
        if not valid_scope(name):
            raise BadParam("scope", SCOPE_ALLOWED, name)
    return json_response({
        "error": f"no endpoint {request.method} {path}",
        "endpoints": [f"{method} {route}: {why}" for method, route, why in ENDPOINTS],
        "scoped": "every endpoint also exists under /s/{scope}/..., counted in that scope",
    }, status=404)


ROUTES: dict[str, Handler] = {
    "/delay": delay,
    "/error": error,
    "/hang": hang,
    "/trickle": trickle,
    "/slow-headers": slow_headers,
    "/capped": capped,
    "/rate": rate,
    "/outage": outage,
    "/items": items,
    "/users/{user_id}": user,
}


