"""Checks for notebook 05 · Timeouts on everything.

Both exercises hand the learner's function something that will not answer in time (an
endpoint that hangs, trickles or sends its headers late; a query that sleeps) and measure
three things:

* how long the function took to give up, as a ratio to the deadline it was given;
* what it raised: `asynclab.ServiceUnavailable`, and never an httpx or driver exception;
* that the caller's own mistakes are *not* reported as unavailability: a 404, or SQL that
  fails, must raise, and not as ServiceUnavailable (retrying them, or paging someone about an
  outage, would be wrong);
* whether the *other side* stopped too: the API's per-scope disconnect and in-flight counters,
  PostgreSQL's `pg_stat_activity`.

The learner's code runs on an event loop of its own, in a daemon thread. Code that swallows
`CancelledError` cannot be stopped by cancelling it; on the check's own loop it would keep
the check (and the worker's `asyncio.run` clean-up) waiting forever once the verdict is known.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

import httpx

from ...errors import ServiceUnavailable
from ...lab import Lab
from ...services.api_client import ApiHandle
from ..layout import ROOT as EXERCISES
from ..measure import require_coroutine_function
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed

T = TypeVar("T")

SLACK = 0.25  # the syllabus' bound: give up within the deadline + 0.25 s
BOUND_EXTRA = 1.5  # how long past the deadline a call may run before the check stops it
GRACE = 1.0  # how long a stopped call gets to end after it is cancelled
SERVER_SETTLE = 1.5  # how long the server gets to see a disconnect or a cancelled query


# --- running the learner's code ------------------------------------------------------------

async def _on_own_loop(body: Callable[[], Awaitable[T]], limit: float) -> T:
    """Run `body()` on a fresh event loop in a daemon thread; return or raise what it did.

    The result is handed back as soon as `body` finishes, before that loop's clean-up, which
    may never end when the learner's code swallowed a cancellation. The thread is a daemon,
    so the worker process still exits.
    """
    caller = asyncio.get_running_loop()
    outcome: asyncio.Future[T] = caller.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if outcome.done():
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(value)

    async def main() -> None:
        try:
            value = await body()
        except Exception as exc:  # CheckFailed included
            caller.call_soon_threadsafe(settle, None, exc)
        except BaseException as exc:  # noqa: BLE001 - a Future cannot carry CancelledError & co
            caller.call_soon_threadsafe(settle, None, RuntimeError(f"the check's loop ended with {exc!r}"))
            raise
        else:
            caller.call_soon_threadsafe(settle, value, None)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException:  # noqa: BLE001 - the verdict has been handed over already
            pass

    threading.Thread(target=run, name="asynclab-05-learner-loop", daemon=True).start()
    async with asyncio.timeout(limit):
        return await outcome


@dataclass
class Call:
    """What one bounded call of the learner's function did."""

    elapsed: float  # seconds until it returned or raised; until it was stopped if it never did
    finished: bool  # it returned or raised on its own, before the check stopped it
    value: Any = None
    error: BaseException | None = None
    stuck: bool = False  # still running after being cancelled: it swallowed the CancelledError
    snapshot: Any = None  # what `look` saw when the bound passed, before the call was cancelled


async def _bounded(make: Callable[[], Awaitable[Any]], bound: float,
                   look: Callable[[], Awaitable[Any]] | None = None) -> Call:
    """Call the learner's coroutine; stop it (cancel) if it runs longer than `bound` seconds.

    `look` runs when the bound has passed, before the cancel: the state of the other side
    (server counters, pg_stat_activity) as the learner's code left it.
    """
    ended: list[float] = []

    async def timed() -> Any:
        try:
            return await make()
        finally:
            ended.append(time.perf_counter())

    started = time.perf_counter()
    task = asyncio.ensure_future(timed())
    done, _ = await asyncio.wait({task}, timeout=bound)
    if done:
        elapsed = (ended[0] if ended else time.perf_counter()) - started
        if task.cancelled():
            return Call(elapsed, True, error=asyncio.CancelledError())
        error = task.exception()
        return Call(elapsed, True, value=None if error else task.result(), error=error)
    waited = time.perf_counter() - started
    snapshot = await look() if look is not None else None
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=GRACE)
    if done and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise
    return Call(waited, False, stuck=not done, snapshot=snapshot)


def _name(exc: BaseException) -> str:
    text = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    message = str(exc)
    if message:
        text += f": {message[:80]}"
    return text


def _is_httpx(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPError) or type(exc).__module__.split(".")[0] == "httpx"


def _is_db(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("asyncpg", "psycopg", "psycopg2")


# --- 05-deadline-fetch ---------------------------------------------------------------------

@dataclass(frozen=True)
class Slow:
    """A case in which the function must give up: what to call, with which client, and why."""

    name: str
    path: str
    client_timeout: float | None  # the httpx timeout of the client the check passes
    seconds: float  # the deadline passed to the function
    why: str
    cancels: bool = True  # the server must see the request cancelled (a disconnect)


SLOW_CASES = (
    Slow("hang", "/hang", None, 0.5, "the server never answers and the client has no timeout of its own"),
    Slow("slow-headers", "/slow-headers?ms=1500", 0.3, 1.0,
         "the headers come after 1.5 s, and the client's own read timeout (0.3 s) fires first"),
    Slow("trickle", "/trickle?bytes=100&every_ms=100", 0.5, 1.0,
         "one byte every 0.1 s for 10 s: never 0.5 s of silence, so httpx's per-read timeout never fires"),
    Slow("server-error", "/error?rate=1&status=500", 2.0, 1.0, "the server answers 500 at once", cancels=False),
)
FAST_DEADLINE = 1.0


def _client(timeout: float | None, sent: list[str]) -> httpx.AsyncClient:
    async def count(request: httpx.Request) -> None:
        sent.append(str(request.url))

    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False, event_hooks={"request": [count]})


async def _settled(handle: ApiHandle, want_disconnect: bool) -> dict[str, Any]:
    """The scope's counters once the request is over at the server (or after SERVER_SETTLE s)."""
    until = time.monotonic() + SERVER_SETTLE
    while True:
        stats = await handle.stats()
        over = stats["in_flight"] == 0 and (stats["disconnects"] >= 1 or not want_disconnect)
        if over or time.monotonic() > until:
            return stats
        await asyncio.sleep(0.05)


async def _close(client: httpx.AsyncClient) -> None:
    try:
        async with asyncio.timeout(1.0):
            await client.aclose()
    except Exception:  # noqa: BLE001 - best effort: the learner's code may still hold it
        pass


async def _fetch_fast(fetch: Callable[..., Awaitable[Any]], lab: Lab, path: str, expected: str, what: str) -> float:
    handle = lab.api.scoped()
    sent: list[str] = []
    client = _client(0.3, sent)
    try:
        call = await _bounded(lambda: fetch(client, f"{handle.url}{path}", FAST_DEADLINE), FAST_DEADLINE + BOUND_EXTRA)
    finally:
        await _close(client)
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"against {what}, your function was still waiting after {call.elapsed:.1f} s.",
                   measured=f"a {FAST_DEADLINE} s deadline, still running after {call.elapsed:.1f} s",
                   expected="the body of a fast answer", hint="Did the request ever get sent?")
    if call.error is not None:
        reason = Reason.GAVE_UP_EARLY if isinstance(call.error, ServiceUnavailable) else Reason.WRONG_RESULT
        raise fail(reason, f"against {what}, your function raised instead of returning the body.",
                   measured=f"{_name(call.error)} after {call.elapsed:.2f} s (deadline {FAST_DEADLINE} s)",
                   expected=f"the body {expected!r}",
                   hint="A fast answer must come back as the response's text. Is a timeout shorter than `seconds`?")
    if not sent:
        raise fail(Reason.CLIENT_NOT_USED, "your function did not send its request through the client it was given.",
                   measured="0 requests through the given client",
                   expected="every request goes through `client` (its timeouts and connection pool)",
                   hint="Use the `client` argument; a client per call costs a new connection every time (notebook 04).")
    if call.value != expected:
        shown = repr(call.value)[:80]
        raise fail(Reason.WRONG_RESULT, f"against {what}, your function returned the wrong thing.",
                   measured=f"{shown} ({type(call.value).__name__})", expected=f"the body as text: {expected!r}",
                   hint="Return `response.text`.")
    return call.elapsed


async def _fetch_slow(fetch: Callable[..., Awaitable[Any]], lab: Lab, case: Slow) -> tuple[str, float, float]:
    """Run one case in which the function must give up; return (name, elapsed, seconds past the deadline)."""
    handle = lab.api.scoped()
    sent: list[str] = []
    client = _client(case.client_timeout, sent)
    url = f"{handle.url}{case.path}"
    deadline = case.seconds
    try:
        call = await _bounded(lambda: fetch(client, url, deadline), deadline + BOUND_EXTRA, look=handle.stats)
        stats = call.snapshot if not call.finished else await _settled(handle, want_disconnect=case.cancels)
    finally:
        await _close(client)
    where = f"against {case.path.split('?')[0]} ({case.why})"
    if not call.finished:
        swallowed = " It was cancelled and still did not stop: something catches CancelledError." if call.stuck else ""
        if case.name == "hang" and stats["requests"] <= 1 and stats["disconnects"] == 0 and not call.stuck:
            raise fail(Reason.NO_DEADLINE, f"no deadline: still waiting after {call.elapsed:.1f} s against /hang.",
                       measured=f"deadline {deadline} s, still waiting after {call.elapsed:.1f} s; "
                                f"the server still had {stats['in_flight']} request in flight",
                       expected=f"asynclab.ServiceUnavailable within {deadline + SLACK:.2f} s",
                       hint="Nothing in your function stops waiting. Wrap the call in `async with asyncio.timeout(seconds):`.")
        if case.name == "hang":
            summary = (f"the deadline fired, but your code kept going: {stats['requests']} requests and "
                       f"{stats['disconnects']} cancelled at the server, still running after {call.elapsed:.1f} s.")
            hint = ("A `try/except BaseException` (or `except asyncio.CancelledError: pass`) around an await "
                    "swallows the cancellation that asyncio.timeout uses. Catch `Exception` instead, and let "
                    "CancelledError through.")
        elif case.name == "trickle":
            summary = f"deadline missed {where}: still receiving after {call.elapsed:.1f} s."
            hint = ("httpx's timeouts are per phase and per read: a byte every 0.1 s never trips a 0.5 s read "
                    "timeout. Only a deadline on the whole call (asyncio.timeout) stops it.")
        else:
            summary = f"deadline missed {where}: still running after {call.elapsed:.1f} s."
            hint = "Put the whole call inside `async with asyncio.timeout(seconds):`."
        raise fail(Reason.DEADLINE_MISSED, summary + swallowed,
                   measured=f"deadline {deadline} s, still running after {call.elapsed:.1f} s "
                            f"({call.elapsed / deadline:.1f}× the deadline)",
                   expected=f"asynclab.ServiceUnavailable within {deadline + SLACK:.2f} s", hint=hint)
    if call.error is None:
        shown = repr(call.value)[:60]
        if case.name == "server-error":
            raise fail(Reason.SERVER_ERROR_RETURNED, "a 500 answer came back as if it were a body.",
                       measured=f"returned {shown}", expected="asynclab.ServiceUnavailable for a 5xx status",
                       hint="A 5xx means the service is unavailable: `response.raise_for_status()` raises "
                            "httpx.HTTPStatusError, which you can turn into ServiceUnavailable.")
        raise fail(Reason.WRONG_RESULT, f"{where}, your function returned instead of raising ServiceUnavailable.",
                   measured=f"returned {shown} after {call.elapsed:.2f} s", expected="asynclab.ServiceUnavailable",
                   hint="Are you using the client you were given?")
    error = call.error
    if _is_httpx(error):
        raise fail(Reason.HTTPX_ERROR_ESCAPED, f"an httpx exception escaped {where}.",
                   measured=f"{_name(error)} after {call.elapsed:.2f} s; its bases: "
                            + " → ".join(c.__name__ for c in type(error).__mro__[1:-2]),
                   expected="asynclab.ServiceUnavailable (no httpx exception escapes)",
                   hint="httpx's own timeouts raise httpx.TimeoutException, which is not a TimeoutError, so "
                        "`except TimeoutError` misses it. Catch httpx.HTTPError too.")
    if not isinstance(error, ServiceUnavailable):
        raise fail(Reason.WRONG_EXCEPTION, f"{where}, your function raised the wrong exception.",
                   measured=f"{_name(error)} after {call.elapsed:.2f} s",
                   expected="asynclab.ServiceUnavailable (`from asynclab import ServiceUnavailable`)",
                   hint="Callers handle one exception for 'the dependency is down': translate TimeoutError "
                        "and httpx errors into ServiceUnavailable (`raise ServiceUnavailable(...) from exc`).")
    if call.elapsed > deadline + SLACK:
        raise fail(Reason.DEADLINE_MISSED, f"deadline missed {where}.",
                   measured=f"ServiceUnavailable after {call.elapsed:.2f} s: {call.elapsed / deadline:.1f}× "
                            f"the {deadline} s deadline",
                   expected=f"within {deadline + SLACK:.2f} s",
                   hint="Does something retry, or wait again, after the deadline? One deadline covers the whole call.")
    if case.name == "hang" and call.elapsed < deadline * 0.8:
        raise fail(Reason.GAVE_UP_EARLY, f"your function gave up {where} before its deadline.",
                   measured=f"after {call.elapsed:.2f} s, deadline {deadline} s", expected=f"about {deadline} s",
                   hint="Use `seconds` as the deadline, not a number of your own.")
    if case.cancels and (stats["in_flight"] > 0 or stats["disconnects"] == 0):
        raise fail(Reason.REQUEST_LEFT_RUNNING, f"you gave up {where}, but the request is still open at the server.",
                   measured=f"{SERVER_SETTLE} s later: {stats['in_flight']} in flight, "
                            f"{stats['disconnects']} disconnects, {stats['completed']} completed",
                   expected="the request cancelled: 0 in flight, 1 disconnect",
                   hint="Giving up must cancel the request (asyncio.timeout cancels the awaiting task). "
                        "`asyncio.wait(..., timeout=)` or `asyncio.shield` leave it running.")
    return case.name, call.elapsed, max(0.0, call.elapsed - deadline)


async def _fetch_client_error(fetch: Callable[..., Awaitable[Any]], lab: Lab) -> str:
    """A 404 is the caller's mistake: the function must raise, and not ServiceUnavailable."""
    handle = lab.api.scoped()
    client = _client(0.3, [])
    try:
        call = await _bounded(lambda: fetch(client, f"{handle.url}/error?rate=1&status=404", FAST_DEADLINE),
                              FAST_DEADLINE + BOUND_EXTRA)
    finally:
        await _close(client)
    expected = "an exception that is not ServiceUnavailable: httpx.HTTPStatusError from response.raise_for_status()"
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"against a 404, your function was still running after {call.elapsed:.1f} s.",
                   measured=f"still running after {call.elapsed:.1f} s", expected=expected,
                   hint="A 404 comes back at once. Does something retry it?")
    if call.error is None:
        raise fail(Reason.CLIENT_ERROR_RETURNED, "a 404 answer came back as if it were the body.",
                   measured=f"returned {repr(call.value)[:60]}", expected=expected,
                   hint="A 4xx means the request was wrong (here: no such resource). Raise: "
                        "`response.raise_for_status()` raises httpx.HTTPStatusError.")
    if isinstance(call.error, ServiceUnavailable):
        raise fail(Reason.CLIENT_ERROR_AS_UNAVAILABLE, "a 404 was reported as ServiceUnavailable.",
                   measured=f"{_name(call.error)} (caused by {_name(call.error.__cause__) if call.error.__cause__ else '-'})",
                   expected=expected,
                   hint="A 4xx is the caller's mistake, not an outage: retrying it cannot help, and callers "
                        "that treat ServiceUnavailable as 'the dependency is down' would be misled. Turn only "
                        "timeouts, httpx.RequestError and 5xx into ServiceUnavailable; `except httpx.HTTPError` "
                        "also catches the HTTPStatusError of a 4xx.")
    return _name(call.error).split(":")[0]


@exercise(str(EXERCISES / "ex05_deadline_fetch" / "check.py"))  # hints, deadline: exercise.toml
async def check_deadline_fetch(module: ModuleType, lab: Lab) -> Verdict:
    fetch = require_coroutine_function(module, "fetch_with_deadline")

    async def body() -> str:
        token = secrets.token_hex(4)
        fast = await _fetch_fast(fetch, lab, f"/delay?ms=50&id={token}", json.dumps({"id": token, "slept_ms": 50}),
                                 "a fast server (50 ms)")
        await _fetch_fast(fetch, lab, "/trickle?bytes=5&every_ms=40", "01234", "a short trickle (5 bytes in 0.2 s)")
        results = [await _fetch_slow(fetch, lab, case) for case in SLOW_CASES]
        client_error = await _fetch_client_error(fetch, lab)
        return (f"fast {fast:.2f} s; gave up: " + ", ".join(f"{name} {elapsed:.2f} s" for name, elapsed, _ in results)
                + f"; at most {max(late for _, _, late in results):.2f} s past a deadline; a 404 raised {client_error}")

    measured = await _on_own_loop(body, 40)
    return passed("gave up in time against hang, slow headers, trickle and a 500, with ServiceUnavailable; "
                  "the server saw each request cancelled; a 404 was raised as the caller's error.", measured=measured)


# --- 05-db-deadline ------------------------------------------------------------------------

DB_FAST_DEADLINE = 2.0
DB_SLOW_DEADLINE = 0.5


def _rows(value: Any) -> list[tuple[Any, ...]] | None:
    """Rows as tuples, whatever the driver returned (asyncpg Records, tuples, dicts)."""
    if not isinstance(value, list):
        return None
    out = []
    for row in value:
        if isinstance(row, dict):
            out.append(tuple(row.values()))
        else:
            try:
                out.append(tuple(row))
            except TypeError:
                return None
    return out


async def _active(monitor: Any, tag: str) -> list[Any]:
    return await monitor.fetch(
        "select pid, extract(epoch from clock_timestamp() - query_start)::float8 as age from pg_stat_activity "
        "where state = 'active' and query like '%' || $1 || '%' and pid <> pg_backend_pid()", tag)


async def _db_fast(query: Callable[..., Awaitable[Any]], pool: Any, monitor: Any, sql: str, seconds: float,
                   what: str) -> float:
    expected = [tuple(r) for r in await monitor.fetch(sql)]
    call = await _bounded(lambda: query(pool, sql, seconds), seconds + BOUND_EXTRA)
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"{what}: your function was still waiting after {call.elapsed:.1f} s.",
                   measured=f"still running after {call.elapsed:.1f} s", expected="the rows, quickly",
                   hint="Is the pool exhausted by an earlier query that was never released?")
    if call.error is not None:
        reason = Reason.GAVE_UP_EARLY if isinstance(call.error, ServiceUnavailable) or _is_db(call.error) \
            or isinstance(call.error, TimeoutError) else Reason.WRONG_RESULT
        raise fail(reason, f"{what}: your function raised instead of returning the rows.",
                   measured=f"{_name(call.error)} after {call.elapsed:.2f} s (deadline {seconds} s)",
                   expected=f"{len(expected)} row(s)", hint="statement_timeout is in milliseconds when given a bare "
                   "number: `SET LOCAL statement_timeout = 1` means 1 ms. Give it '500ms' or an int of ms.")
    rows = _rows(call.value)
    if rows != expected:
        raise fail(Reason.WRONG_RESULT, f"{what}: your function returned the wrong rows.",
                   measured=repr(call.value)[:100], expected=f"the list of rows: {expected[:3]!r}",
                   hint="Return the list of rows that `fetch` gives back.")
    return call.elapsed


@exercise(str(EXERCISES / "ex05_db_deadline" / "check.py"))  # hints, deadline: exercise.toml
async def check_db_deadline(module: ModuleType, lab: Lab) -> Verdict:
    import asyncpg

    query = require_coroutine_function(module, "query_with_deadline")
    dsn = lab.pg.dsn

    async def body() -> str:
        tag = f"asynclab05_{secrets.token_hex(5)}"
        monitor = await asyncpg.connect(dsn, server_settings={"application_name": "asynclab-05-check"})
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3, server_settings={"application_name": tag})
        try:
            return await _db_cases(query, pool, monitor, tag)
        finally:
            pool.terminate()  # first: code still running (a swallowed cancel) can start no new query
            await monitor.execute(  # then stop what was left running: abandoned tasks, threads
                "select pg_cancel_backend(pid) from pg_stat_activity where state = 'active' "
                "and query like '%' || $1 || '%' and pid <> pg_backend_pid()", tag)
            await monitor.close()

    measured = await _on_own_loop(body, 40)
    return passed("fast queries came back; a slow one raised ServiceUnavailable in time and was cancelled "
                  "on the server; failing SQL was raised as the caller's error.", measured=measured)


async def _db_sql_error(query: Callable[..., Awaitable[Any]], pool: Any, tag: str) -> str:
    """SQL that fails on its own is the caller's bug: it must raise, and not ServiceUnavailable."""
    sql = f"select * from asynclab_no_such_table /* {tag} */"
    call = await _bounded(lambda: query(pool, sql, DB_FAST_DEADLINE), DB_FAST_DEADLINE + BOUND_EXTRA)
    expected = "the driver's error (asyncpg.UndefinedTableError), or one of yours, but not ServiceUnavailable"
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"against SQL that fails at once, your function was still running after "
                   f"{call.elapsed:.1f} s.", measured=f"still running after {call.elapsed:.1f} s", expected=expected,
                   hint="Does something retry a query that can never succeed?")
    if call.error is None:
        raise fail(Reason.WRONG_RESULT, "a query on a table that does not exist returned instead of raising.",
                   measured=f"returned {repr(call.value)[:60]}", expected=expected)
    if isinstance(call.error, ServiceUnavailable):
        raise fail(Reason.SQL_ERROR_AS_UNAVAILABLE, "SQL that fails (no such table) was reported as ServiceUnavailable.",
                   measured=f"{_name(call.error)} (caused by {_name(call.error.__cause__) if call.error.__cause__ else '-'})",
                   expected=expected,
                   hint="Only the deadline means 'the database is unavailable': TimeoutError and "
                        "asyncpg.QueryCanceledError. Catching asyncpg.PostgresError also turns typos, missing "
                        "tables and constraint violations into 503s that retries cannot fix.")
    return _name(call.error).split(":")[0]


async def _db_cases(query: Callable[..., Awaitable[Any]], pool: Any, monitor: Any, tag: str) -> str:
    fast = await _db_fast(query, pool, monitor, f"select id, name from users where id <= 3 order by id /* {tag} */",
                          DB_FAST_DEADLINE, "a fast query (3 users)")
    await _db_fast(query, pool, monitor, f"select 42 as answer from pg_sleep(0.3) /* {tag} */", 1.5,
                   "a query of 0.3 s with a 1.5 s deadline")
    sql = f"select 1 as never from pg_sleep(10) /* {tag} */"
    seconds = DB_SLOW_DEADLINE
    call = await _bounded(lambda: query(pool, sql, seconds), seconds + BOUND_EXTRA, look=lambda: _active(monitor, tag))
    where = "against `select pg_sleep(10)` with a 0.5 s deadline"
    if not call.finished:
        active = call.snapshot
        stuck = " It was cancelled and still did not stop: something catches CancelledError." if call.stuck else ""
        if active and active[0]["age"] >= call.elapsed - seconds / 2 and not call.stuck:
            raise fail(Reason.NO_DEADLINE, f"no deadline: still waiting after {call.elapsed:.1f} s for a 10 s query.",
                       measured=f"deadline {seconds} s; after {call.elapsed:.1f} s the query was still active on "
                                f"the server ({active[0]['age']:.1f} s old)",
                       expected=f"asynclab.ServiceUnavailable within {seconds + SLACK:.2f} s, query cancelled",
                       hint="Nothing stops waiting. Wrap the fetch in `async with asyncio.timeout(seconds):`.")
        raise fail(Reason.DEADLINE_MISSED, f"deadline missed {where}: still running after {call.elapsed:.1f} s." + stuck,
                   measured=f"{call.elapsed / seconds:.1f}× the deadline; "
                            f"{'a query started after the deadline was active' if active else 'no query active'}",
                   expected=f"asynclab.ServiceUnavailable within {seconds + SLACK:.2f} s",
                   hint="Does a retry loop or an `except BaseException` keep going after the deadline?")
    if call.error is None:
        raise fail(Reason.WRONG_RESULT, f"{where}, your function returned instead of raising.",
                   measured=f"returned {repr(call.value)[:60]} after {call.elapsed:.2f} s",
                   expected="asynclab.ServiceUnavailable")
    error = call.error
    if _is_db(error):
        raise fail(Reason.DB_ERROR_ESCAPED, f"a database driver exception escaped {where}.",
                   measured=f"{_name(error)} after {call.elapsed:.2f} s; its bases: "
                            + " → ".join(c.__name__ for c in type(error).__mro__[1:-2]),
                   expected="asynclab.ServiceUnavailable",
                   hint="statement_timeout ends a query with asyncpg.QueryCanceledError, which is not a "
                        "TimeoutError. Catch it (or asyncpg.PostgresError) too.")
    if not isinstance(error, ServiceUnavailable):
        raise fail(Reason.WRONG_EXCEPTION, f"{where}, your function raised the wrong exception.",
                   measured=f"{_name(error)} after {call.elapsed:.2f} s",
                   expected="asynclab.ServiceUnavailable (`from asynclab import ServiceUnavailable`)",
                   hint="Translate the timeout into ServiceUnavailable: `raise ServiceUnavailable(...) from exc`.")
    if call.elapsed > seconds + SLACK:
        raise fail(Reason.DEADLINE_MISSED, f"deadline missed {where}.",
                   measured=f"ServiceUnavailable after {call.elapsed:.2f} s: {call.elapsed / seconds:.1f}× the deadline",
                   expected=f"within {seconds + SLACK:.2f} s",
                   hint="One deadline for the whole call: no retries with fresh timeouts after it.")
    if call.elapsed < seconds * 0.8:
        raise fail(Reason.GAVE_UP_EARLY, f"your function gave up {where} before its deadline.",
                   measured=f"after {call.elapsed:.2f} s, deadline {seconds} s", expected=f"about {seconds} s",
                   hint="Use `seconds` as the deadline. statement_timeout counts milliseconds.")
    until = time.monotonic() + SERVER_SETTLE
    active = await _active(monitor, tag)
    while active and time.monotonic() < until:
        await asyncio.sleep(0.05)
        active = await _active(monitor, tag)
    if active:
        raise fail(Reason.QUERY_LEFT_RUNNING, f"you gave up {where}, but the query is still running on the server.",
                   measured=f"{SERVER_SETTLE} s after ServiceUnavailable, pg_stat_activity still shows it active "
                            f"({active[0]['age']:.1f} s old)",
                   expected="no active query left: cancelled on the server",
                   hint="Await the query inside the deadline so cancelling it reaches the driver, which then "
                        "cancels it on the server. asyncio.wait(timeout=), shield() or a thread leave it running.")
    sql_error = await _db_sql_error(query, pool, tag)
    return (f"fast {fast:.2f} s; pg_sleep(10) under a {seconds} s deadline: ServiceUnavailable after "
            f"{call.elapsed:.2f} s, {max(0.0, call.elapsed - seconds):.2f} s past it; no active query left; "
            f"SQL with no such table raised {sql_error}")
