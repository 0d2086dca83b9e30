"""Checks for notebook 04 · Connection pools, not a client per request.

Both checks count from the outside what the learner's code opens:
* 04-api-client: TCP connections the lab API saw (its scoped counter), sockets this process
  still holds after `async with` ends, httpx clients left open, ResourceWarnings on gc. Last,
  a second ApiClient on a fresh scope gets a 503 (/error?rate=1) and a 404 (/users/0): each
  must raise the status error (httpx.HTTPStatusError; httpx2's or aiohttp's own for answers
  written with those), not return the error's body as data.
* 04-user-repo: backends in pg_stat_activity. The repo gets a DSN with its own
  application_name (so its backends can be counted) and a search_path that points `users` at
  a private copy of the table. Locking that copy holds every lookup on the server, so the
  number of backends the repo opens for 24 concurrent lookups is counted exactly, not sampled
  by luck; then 200 lookups run free while a sampler counts concurrently.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from ...lab import Lab
from ...lessons.n04_pools import (
    CHECKER_APP,
    AsyncClientSpy,
    BackendSampler,
    count_backends,
    open_sockets_to,
    tagged_dsn,
    unique_tag,
    wait_for_backends,
)
from ..layout import ROOT as EXERCISES
from ..measure import Stopwatch, require_class
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed

API_LIMIT = 8  # the check asks for 8, not the default 10: the argument must be honoured
API_CALLS = 200
API_MS = 30
ERROR_PATHS = (("/error?rate=1&status=503", 503), ("/users/0", 404))  # each must raise
ERROR_WITHIN = 10.0  # seconds for the error calls

REPO_MAX = 4  # likewise, not the default 5
PROBE = 24  # lookups held on the server to count the repo's backends exactly
REPO_CALLS = 200
MISSING_IDS = (0, 1001, 5000, 10**6)
CLOSE_WITHIN = 2.0  # seconds for sockets / backends to go after the `async with` ends


def _require_context_manager_class(module: ModuleType, name: str) -> type:
    cls = require_class(module, name, expected=f"class {name}: ... with async __aenter__/__aexit__",
                        hint="Define a class with `async def __aenter__(self)` and `async def __aexit__(self, *exc)`.")
    for method in ("__aenter__", "__aexit__"):
        if not hasattr(cls, method):
            raise fail(Reason.NOT_A_CONTEXT_MANAGER, f"{name} is not an async context manager.", measured=f"no {method}",
                       expected=f"`async with {name}(...) as x:` works",
                       hint="Give the class `async def __aenter__(self)` (return self) and `async def __aexit__(self, *exc)`.")
    return cls


def _user(entered: Any, obj: Any, method: str) -> Any:
    """What `async with X(...) as x` gave, if it has the method; else the object itself."""
    return entered if hasattr(entered, method) else obj


# --------------------------------------------------------------------------------------------
# 04-api-client


@exercise(str(EXERCISES / "ex04_api_client" / "check.py"))  # hints, deadline: exercise.toml
async def check_api_client(module: ModuleType, lab: Lab) -> Verdict:
    cls = _require_context_manager_class(module, "ApiClient")
    api_handle = lab.api.scoped()
    port = urlsplit(api_handle.base_url).port
    assert port is not None
    sockets_before = open_sockets_to(port)
    spy = AsyncClientSpy().install()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with spy.watching(), Stopwatch() as sw:
                obj = cls(api_handle.url, max_connections=API_LIMIT)
                async with obj as entered:
                    client = _user(entered, obj, "get_json")
                    results = await asyncio.gather(*(client.get_json(f"/delay?ms={API_MS}&id={i}") for i in range(API_CALLS)))
            verdict = await _judge_api_client(api_handle, port, sockets_before, spy, results, sw.seconds)
            # Nothing of the learner's may be left to warn: drop every reference, collect, look.
            del obj, entered, client, results
            spy.clients.clear()
            for _ in range(2):
                gc.collect()
                await asyncio.sleep(0.05)
        resource_warnings = [w for w in caught if issubclass(w.category, ResourceWarning)]
        if resource_warnings:
            first = str(resource_warnings[0].message)
            raise fail(Reason.NOT_CLOSED, "something your ApiClient opened was never closed: Python warned when it was "
                       "garbage-collected.", measured=f"{len(resource_warnings)} ResourceWarning(s), first: {first[:120]}",
                       expected="no ResourceWarning after `async with ApiClient(...)` ends",
                       hint="Close everything you open in `__aexit__` (`await self._client.aclose()`).")
        await _judge_error_statuses(cls, lab.api.scoped().url)
        return verdict
    finally:
        spy.uninstall()


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status an exception reports: the HTTPStatusError of httpx (or of its fork httpx2), or
    aiohttp's ClientResponseError: answers in the other libraries raise their own."""
    import aiohttp
    import httpx
    import httpx2

    if isinstance(exc, httpx.HTTPStatusError | httpx2.HTTPStatusError):
        return exc.response.status_code
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    return None


async def _judge_error_statuses(cls: type, url: str) -> None:
    """A 4xx or 5xx must raise: a caller must never take an error's body for data."""
    obj = cls(url, max_connections=2)
    async with asyncio.timeout(ERROR_WITHIN), obj as entered:
        client = _user(entered, obj, "get_json")
        for path, status in ERROR_PATHS:
            try:
                value = await client.get_json(path)
            except Exception as exc:
                if _status_of(exc) == status:
                    continue
                measured = f"get_json({path!r}) raised {type(exc).__name__}: {str(exc)[:100]}"
            else:
                measured = f"get_json({path!r}) returned {value!r:.100}"
            raise fail(Reason.STATUS_UNCHECKED, f"the API answered {status}, and get_json did not raise httpx.HTTPStatusError.",
                       measured=measured, expected="httpx.HTTPStatusError for any 4xx or 5xx answer",
                       hint="Call `response.raise_for_status()` before `response.json()`: an error's body is JSON too, "
                            "and a caller would take it for data.")


async def _judge_api_client(api_handle: Any, port: int, sockets_before: int, spy: AsyncClientSpy,
                            results: list[Any], seconds: float) -> Verdict:
    for i, result in enumerate(results):
        if not isinstance(result, dict) or str(result.get("id")) != str(i):
            raise fail(Reason.WRONG_RESULT, "get_json did not return the JSON body as a dict.",
                       measured=f"get_json('/delay?ms={API_MS}&id={i}') returned {result!r:.120}",
                       expected=f"{{'id': '{i}', 'slept_ms': {API_MS}}}",
                       hint="Return `response.json()`, and build the URL as base_url + path.")
    stats = await api_handle.stats()
    connections, peak = int(stats["connections"]), int(stats["peak_in_flight"])
    measured = (f"{API_CALLS} concurrent calls opened {connections} TCP connections (at most {peak} requests at once); "
                f"{spy.created} httpx.AsyncClient object(s) created")
    expected = f"at most max_connections={API_LIMIT} connections"
    if spy.created > API_CALLS // 2:
        raise fail(Reason.CLIENT_PER_REQUEST, "every call made a client of its own, and every client a TCP connection "
                   "(and an SSL context) of its own.", measured=measured, expected=expected + ", from one client",
                   hint="Create one httpx.AsyncClient when the ApiClient is entered and reuse it in get_json.")
    if connections > API_LIMIT:
        if peak <= API_LIMIT:
            raise fail(Reason.CONNECTION_CHURN, f"never more than {API_LIMIT} requests ran at once, but idle connections "
                       "were closed and new ones opened.", measured=measured, expected=expected,
                       hint="Set max_keepalive_connections to max_connections: httpcore 1.0 (httpx 0.28/0.29) "
                            "closes idle connections beyond the keep-alive limit even while requests are waiting "
                            "(encode/httpcore#1000).")
        reason = Reason.CLIENT_PER_REQUEST if connections >= API_CALLS * 0.9 and spy.created == 0 else Reason.TOO_MANY_CONNECTIONS
        raise fail(reason, "your client opened more connections than max_connections allows.", measured=measured,
                   expected=expected, hint="Pass `limits=httpx.Limits(max_connections=..., max_keepalive_connections=...)` "
                   "built from the max_connections argument (httpx's default is 100).")
    left = await _wait_sockets(port, sockets_before)
    if left > 0 or spy.still_open:
        raise fail(Reason.NOT_CLOSED, "the ApiClient did not close its connections when `async with` ended.",
                   measured=f"{left} socket(s) to the API still open {CLOSE_WITHIN:.0f} s after exit; "
                            f"{spy.still_open} of {spy.created} httpx client(s) not closed",
                   expected="every connection closed on exit",
                   hint="`__aexit__` must `await self._client.aclose()`.")
    return passed(f"{API_CALLS} calls shared {connections} connection(s), and all were closed on exit.",
                  measured=f"{connections} of at most {API_LIMIT} connections; {seconds:.2f} s")


async def _wait_sockets(port: int, before: int) -> int:
    deadline = time.monotonic() + CLOSE_WITHIN
    while True:
        left = open_sockets_to(port) - before
        if left <= 0 or time.monotonic() >= deadline:
            return max(0, left)
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------
# 04-user-repo


@exercise(str(EXERCISES / "ex04_user_repo" / "check.py"))  # hints, deadline: exercise.toml
async def check_user_repo(module: ModuleType, lab: Lab) -> Verdict:
    import asyncpg

    cls = _require_context_manager_class(module, "UserRepo")
    tag = unique_tag("chk04")
    admin = await asyncpg.connect(tagged_dsn(lab.pg.dsn, CHECKER_APP))
    try:
        await _drop_stale_schemas(admin, tag)
        await admin.execute(f"CREATE SCHEMA {tag}; CREATE TABLE {tag}.users AS TABLE public.users; "
                            f"ALTER TABLE {tag}.users ADD PRIMARY KEY (id)")
        truth = {r["id"]: dict(r) for r in await admin.fetch("SELECT * FROM public.users")}
        repo_dsn = tagged_dsn(lab.pg.dsn, tag, search_path=f"{tag},public")
        return await _run_repo(cls, repo_dsn, lab.pg.dsn, tag, admin, truth)
    finally:
        try:
            async with asyncio.timeout(5):
                await admin.execute(f"DROP SCHEMA IF EXISTS {tag} CASCADE")
        finally:
            await admin.close()


async def _drop_stale_schemas(admin: Any, tag: str) -> None:
    """Drop the private schemas of earlier checks that died before their cleanup (a deadline kill).

    Each check holds a session advisory lock named after its schema while it lives, taken before
    the schema exists; a schema whose lock can be taken has no living owner.
    """
    await admin.execute("SELECT pg_advisory_lock(hashtext($1))", tag)
    rows = await admin.fetch(r"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'chk04\_%'")
    for name in (r["nspname"] for r in rows):
        if name != tag and await admin.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name):
            try:
                await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            finally:
                await admin.execute("SELECT pg_advisory_unlock(hashtext($1))", name)


async def _run_repo(cls: type, repo_dsn: str, dsn: str, tag: str, admin: Any, truth: dict[int, dict[str, Any]]) -> Verdict:
    import asyncpg

    probe_ids = list(range(1, PROBE + 1))
    ids = [*(1 + (i * 37) % 1000 for i in range(REPO_CALLS - len(MISSING_IDS))), *MISSING_IDS]
    obj = cls(repo_dsn, max_size=REPO_MAX)
    async with obj as entered:
        repo = _user(entered, obj, "get_user")
        # Phase 1: hold every lookup on the server (a lock on the repo's copy of users) and count
        # the backends the repo opened for them, exactly.
        locker = await asyncpg.connect(tagged_dsn(dsn, CHECKER_APP))
        tasks: list[asyncio.Task[Any]] = []
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute(f"LOCK TABLE {tag}.users IN ACCESS EXCLUSIVE MODE")
            tasks = [asyncio.create_task(repo.get_user(i)) for i in probe_ids]
            held = await _settle(admin, tag, tasks)
            await tx.commit()
            probe_results = await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await locker.close()
        _judge_backends(held, "while 24 lookups waited on the server", PROBE)
        _judge_results(probe_ids, probe_results, truth)
        # Phase 2: 200 lookups at once, counted concurrently from another connection.
        async with BackendSampler(dsn, tag) as sampler:
            with Stopwatch() as sw:
                results = await asyncio.gather(*(repo.get_user(i) for i in ids))
        _judge_results(ids, results, truth)
        if held == 0 and not sampler.pids:
            raise fail(Reason.DSN_IGNORED, "no backend carried the application_name of the dsn the repo was given.",
                       measured="0 backends seen with that application_name",
                       expected="connections made from the dsn argument, unchanged",
                       hint="Pass the dsn you are given to asyncpg unchanged, and don't override application_name.")
        _judge_backends(sampler.peak, f"during {REPO_CALLS} concurrent lookups", REPO_CALLS)
    # Phase 3: after exit, every backend of the repo must go.
    left = await wait_for_backends(admin, tag, at_most=0, timeout=CLOSE_WITHIN)
    if left:
        raise fail(Reason.NOT_CLOSED, "the repo's connections stayed open after `async with` ended.",
                   measured=f"{left} backend(s) of the repo still in pg_stat_activity {CLOSE_WITHIN:.0f} s after exit",
                   expected="0: closing the repo releases every connection",
                   hint="`await self._pool.close()` in `__aexit__`.")
    return passed(f"{REPO_CALLS} lookups were right and shared at most {max(held, sampler.peak)} backend(s); "
                  "all released on exit.",
                  measured=f"peak {max(held, sampler.peak)} of max_size={REPO_MAX} backends; {sw.seconds:.2f} s for "
                           f"{REPO_CALLS} lookups")


async def _settle(admin: Any, tag: str, tasks: list[asyncio.Task[Any]], *, quiet: float = 0.25, limit: float = 3.0) -> int:
    """The most backends seen while the held lookups pile up; stops once the count stays put."""
    started = last_change = time.monotonic()
    peak = last = await count_backends(admin, tag)
    while time.monotonic() - started < limit:
        await asyncio.sleep(0.02)
        n = await count_backends(admin, tag)
        peak = max(peak, n)
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        elif (n > 0 and now - last_change >= quiet) or n >= len(tasks) or all(t.done() for t in tasks):
            break
    return peak


def _judge_backends(peak: int, when: str, lookups: int) -> None:
    if peak <= REPO_MAX:
        return
    measured = f"{peak} backends at once {when} (counted in pg_stat_activity)"
    expected = f"at most max_size={REPO_MAX}"
    if peak >= min(lookups, PROBE) * 0.75:
        raise fail(Reason.CONNECTION_PER_QUERY, "every lookup opened a connection (or a pool) of its own.", measured=measured,
                   expected=expected, hint="Open one pool when the repo is entered and borrow from it in get_user "
                   "(and create it once: a lazy `if self.pool is None: self.pool = await create_pool()` races).")
    raise fail(Reason.POOL_TOO_LARGE, "the pool holds more connections than max_size allows.", measured=measured,
               expected=expected, hint="Pass max_size (and a min_size no larger) to asyncpg.create_pool: both default to 10.")


def _judge_results(ids: list[int], results: list[Any], truth: dict[int, dict[str, Any]]) -> None:
    for user_id, got in zip(ids, results, strict=True):
        want = truth.get(user_id)
        if want is None:
            if got is not None:
                raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) should be None: there is no such user.",
                           measured=f"returned {got!r:.120}", expected="None",
                           hint="`fetchrow` returns None when no row matches; return None then.")
            continue
        if not isinstance(got, dict):
            raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) did not return a dict.",
                       measured=f"returned a {type(got).__name__}: {got!r:.100}", expected="a dict with id, name, email",
                       hint="An asyncpg Record is not a dict: return `dict(row)`.")
        missing = [k for k in ("id", "name", "email") if k not in got]
        wrong = [k for k, v in got.items() if k in want and v != want[k]]
        if missing or wrong:
            raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) returned the wrong user.",
                       measured=f"returned {got!r:.150}", expected=f"{ {k: want[k] for k in ('id', 'name', 'email')} }",
                       hint="Select the user by id (`WHERE id = $1`) and return its id, name and email.")
