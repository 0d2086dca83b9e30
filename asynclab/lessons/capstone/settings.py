"""The capstone's settings dict, and what its partner does for each user.

Why plain values in a dict: the service runs in a process of its own (`process.AppProcess`), and
its settings travel there as JSON.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

FIXES = ("async", "pool", "deadline", "bound", "audit")
"""The five fixes, in the order notebook 07 switches them on (`apps.APPS` has one app per step):

async     non-blocking drivers (asyncpg, httpx.AsyncClient) instead of psycopg/httpx in sync mode
pool      one HTTP client and one database pool for the app's lifetime, not one per request
deadline  `asyncio.timeout(deadline)` around the partner call; a failed call answers 503
bound     at most `pool_limit` partner calls at once (a semaphore, and the pool's own limit)
audit     audit tasks are kept, and drained at shutdown (wait, then cancel), not fired and forgotten
"""

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
    drain_timeout how long shutdown waits for pending audit tasks before it cancels them
    run_id        written into every audit event (events.payload->>'run'), to count them later
    api_ms        how long the partner takes for a healthy user
    hang_every    every hang_every-th user id: the partner never answers (0: never)
    fail_every    every fail_every-th user id: the partner answers 500 (0: never)
    fixes         which of FIXES are on (`apps.app_factory` picks the app for them)
    """
    fixes = list(fixes)
    unknown = set(fixes) - set(FIXES)
    if unknown:
        raise ValueError(f"unknown fixes {sorted(unknown)}; choose from {FIXES}")
    settings: dict[str, Any] = {
        "api_url": api_url.rstrip("/"),
        "dsn": dsn,
        "deadline": 0.5,
        "pool_limit": 10,
        "db_pool_size": 10,
        "audit_delay": 0.5,
        "drain_timeout": 5.0,
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


def path_user(path: str) -> int:
    """The user id of a `/users/{id}` path."""
    return int(path.rsplit("/", 1)[1])


def healthy_ids(settings: dict[str, Any]) -> list[int]:
    """User ids whose partner profile answers normally."""
    return [u for u in range(1, 1001) if partner_kind(settings, u) == "ok"]


def healthy_user_path(settings: dict[str, Any]) -> Callable[[int], str]:
    """A `path_fn` that only asks for users the partner answers for."""
    ids = healthy_ids(settings)
    return lambda i: f"/users/{ids[(i * 7) % len(ids)]}"


def unused_healthy_ids(settings: dict[str, Any], used: Iterable[int], n: int) -> list[int]:
    """`n` healthy users that no earlier request asked for: their audit rows can only come from the
    requests about to be sent, whoever else the app is still auditing (a request the load
    generator gave up on may still be answered, and audited, later)."""
    seen = set(used)
    ids = [u for u in healthy_ids(settings) if u not in seen]
    if len(ids) < n:
        raise ValueError(f"only {len(ids)} healthy users left unused, {n} needed")
    return ids[-n:]
