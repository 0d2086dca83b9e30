"""Checks for notebook 01 · The event loop is not a thread pool.

01-unblock-handler
    `get_user(user_id, client, pool)` must wait PAUSE s, fetch the API's profile through the
    given `client` and read the users row through the given asyncpg `pool`, without blocking the
    loop. The check gives it an httpx.AsyncClient on a fresh API scope (every request answers
    after PROFILE_MS, through the client's default `ms` parameter) and an asyncpg pool of 10
    whose `setup` hook counts acquisitions. Rounds:
    1. A warm-up call inside `find_blocking()`: it names every blocking call a handler makes
       (time.sleep, httpx.get, psycopg...) by line, for the verdict. A sampling thread also notes
       which line of the learner's code held the loop, for blocking that no patch knows about
       (a new AsyncClient per call, CPU work).
    2. One timed call: the reference time t1.
    3. A probe of 5 concurrent calls: a handler that blocks for its whole duration (stalls over
       PROBE_BLOCKED of the probe) fails here in about 5 × t1, instead of 50 × t1.
    4. 50 concurrent calls: stalls (no heartbeat for 50 ms or more) may cover at most STALL_SHARE
       of the run, the results must match the DB row merged with the API profile, every call must
       go through the given client (the scope's request counter) and pool (the acquire counter),
       and the 50 calls must finish within 2 × t1 (+ a small constant for 50 fresh connections).
       When only the stall or time rule fails, the worker runs the whole check once more (if 1.5×
       the first run still fits in the deadline) and the second run decides (measure.remeasure,
       the course's one re-measure policy; the check itself measures once).
    5. One call for user MISSING_ID, which the API answers with 404: it must raise
       httpx.HTTPStatusError (raise_for_status), not merge the error's body into a user (or
       crash on the missing row). Judged after every other rule, so the starter and the other
       known answers keep their reasons.
    The loop's default thread pool is fixed at 5 threads (what asyncio gives a 1-core machine,
    Binder's size), so `await asyncio.to_thread(time.sleep, PAUSE)` fails the same way on every
    machine: 50 pauses queue for 5 threads. That is notebook 01's shared-pool lesson.

01-offload-cpu
    `hash_passwords(passwords)` must hash 16 passwords with `hash_password` (hashlib PBKDF2, which
    releases the GIL) without stalling the loop (same rule), return them in order, and take at
    most 1.5× the inline time, which the check measures itself in the same run (before and after;
    the larger).
    Like every check, it is run a second time, whole, by the worker when it failed only for
    stalling or being slow (measure.remeasure).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, NoReturn

import httpx

from ...instruments.loop_monitor import LoopMonitor
from ...lab import Lab
from ..layout import ROOT as EXERCISES
from ..loopwatch import LoopSampler, Source
from ..measure import STALL_SHARE, Stopwatch, ratio_text, require_coroutine_function, unawaited_coroutines
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed
from .c02_taskgroup import exception_leaves

# --- 01-unblock-handler -------------------------------------------------------------------
CALLS = 50
PROBE_CALLS = 5
PAUSE = 0.2  # defaults; the setup cell's PAUSE / PROFILE_MS win when present
PROFILE_MS = 200
POOL_SIZE = 10
SLOWDOWN = 2.0  # 50 concurrent calls may take at most this × one call ...
SLACK = 0.15  # ... plus this many seconds: 50 fresh TCP connections and a busy 2-core machine
PROBE_BLOCKED = 0.6  # the 5-call probe fails only a clear block; borderline cases go on to the 50 calls
DEFAULT_POOL_THREADS = 5  # what asyncio gives a 1-core machine: min(32, cpu_count + 4)
FIRST_ID = 101  # the 50 calls ask for users 101..150; the single calls for 7 and 8
SINGLE_IDS = (7, 8)
MISSING_ID = 0  # the API answers 404 for ids below 1; the users table has no row 0 either
MISSING_WITHIN = 10.0  # seconds the 404 call may take

# --- 01-offload-cpu -----------------------------------------------------------------------
PASSWORDS = [f"correct-horse-{i}" for i in range(16)]
CPU_SLOWDOWN = 1.5

EXPECTED_FREE = f"the loop blocked at most {STALL_SHARE:.0%} of the time (stalls of 50 ms or more)"



def _stalled(monitor: Any) -> bool:
    """Blocked: stalls (no heartbeat for 50 ms or more) cover more than STALL_SHARE of the run.

    Stalls, not missed ticks: on a loaded 2-core machine a healthy loop's heartbeats run a few
    ms late and up to ~40% of them miss their slot, but they do not stop for 50 ms at a time.
    """
    return bool(monitor.blocked_share > STALL_SHARE)


# --- naming the blocking lines ------------------------------------------------------------
# LoopSampler notes which line of the submission holds the loop; Source maps it to the cell.


def _blame(source: Source, report: Any, sampler: LoopSampler | None) -> list[str]:
    """Readable names for what blocked: find_blocking's calls first, then lines the sampler saw."""
    named: list[str] = []
    lines_named: set[int] = set()
    for call in list(getattr(report, "calls", [])) + list(getattr(report, "slow_steps", [])):
        if call.filename != source.path:
            continue  # the lab's own code, or a library's
        function = str(call.function)
        if function.endswith("__exit__"):
            continue  # closing a psycopg connection: its `with` line is named already by connect
        if call.kind == "slow-step":
            function = f"`{source.code(call.lineno)}`"
        entry = f"{function} ({source.where(call.lineno)})"
        if entry not in named:
            named.append(entry)
        lines_named.add(call.lineno)
    if sampler is not None:
        for line, _seconds in sampler.heavy():
            if line not in lines_named:
                named.append(f"`{source.code(line)}` ({source.where(line)})")
                lines_named.add(line)
    return named


def _blocked_text(named: list[str]) -> str:
    return ("blocking calls: " + ", ".join(named[:5])) if named else ""


@contextlib.contextmanager
def _count_async_clients() -> Iterator[list[int]]:
    """Count httpx.AsyncClient objects created while the block runs (the learner's, not ours)."""
    created = [0]
    original = httpx.AsyncClient.__init__

    def counting_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        created[0] += 1
        original(self, *args, **kwargs)

    httpx.AsyncClient.__init__ = counting_init  # type: ignore[method-assign]
    try:
        yield created
    finally:
        httpx.AsyncClient.__init__ = original  # type: ignore[method-assign]


class _CountingPool(ThreadPoolExecutor):
    """The loop's default executor during the check: counts the jobs sent to it (to_thread)."""

    def __init__(self) -> None:
        super().__init__(max_workers=DEFAULT_POOL_THREADS, thread_name_prefix="asynclab-01-default")
        self.jobs = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.jobs += 1
        return super().submit(*args, **kwargs)


# --- 01-unblock-handler -------------------------------------------------------------------


async def _expected_users(lab: Lab, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The right answer for each id: the users row (id, name, email) merged with the API profile."""
    import asyncpg

    reference = lab.api.scoped()  # a scope of its own: the learner's scope counts only the learner
    conn = await asyncpg.connect(lab.pg.dsn)
    try:
        rows = await conn.fetch("SELECT id, name, email FROM users WHERE id = ANY($1::int[])", ids)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=reference.url, timeout=10, trust_env=False) as client:
        profiles = await asyncio.gather(*(client.get(f"/users/{i}") for i in ids))
    expected = {row["id"]: dict(row) for row in rows}
    for i, response in zip(ids, profiles, strict=True):
        expected.setdefault(i, {"id": i}).update(response.raise_for_status().json())
    return expected


def _wrong(results: dict[int, Any], expected: dict[int, dict[str, Any]]) -> tuple[int, Any, dict[str, Any]] | None:
    for user_id, got in results.items():
        want = expected[user_id]
        if not isinstance(got, Mapping) or any(got.get(k) != v for k, v in want.items()):
            return user_id, got, want
    return None


def _shown(value: Any) -> str:
    text = repr(dict(value)) if isinstance(value, Mapping) else f"a {type(value).__name__}: {value!r}"
    return text if len(text) <= 150 else text[:149] + "…"


@exercise(str(EXERCISES / "ex01_unblock_handler" / "check.py"))  # hints, deadline: exercise.toml
async def check_unblock_handler(module: ModuleType, lab: Lab) -> Verdict:
    import asyncpg

    get_user = require_coroutine_function(module, "get_user")
    source = Source.of_module(module, "01-unblock-handler")
    profile_ms = int(getattr(module, "PROFILE_MS", PROFILE_MS))
    ids = list(range(FIRST_ID, FIRST_ID + CALLS))
    expected = await _expected_users(lab, [*SINGLE_IDS, *ids])

    loop = asyncio.get_running_loop()
    default_pool = _CountingPool()
    loop.set_default_executor(default_pool)
    api = lab.api.scoped()
    acquired = [0]

    async def count_acquire(conn: Any) -> None:
        acquired[0] += 1

    from ...instruments.blocking import find_blocking

    client = httpx.AsyncClient(base_url=api.url, params={"ms": profile_ms}, timeout=10, trust_env=False)
    pool = await asyncpg.create_pool(lab.pg.dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, setup=count_acquire,
                                     server_settings={"application_name": "asynclab-check-01"})
    try:
        with unawaited_coroutines() as unawaited, _count_async_clients() as clients:
            # 1. Warm-up, with the finder on: it names the blocking calls for the verdict.
            with LoopSampler(source.path) as warm_sampler:
                async with find_blocking() as report:
                    first = await get_user(SINGLE_IDS[0], client, pool)
            named = _blame(source, report, warm_sampler)

            # 2. One call, timed: the reference.
            with Stopwatch() as one:
                second = await get_user(SINGLE_IDS[1], client, pool)
            t1 = one.seconds

            # 3. A few at once: a handler that blocks all the way fails here, quickly.
            with LoopSampler(source.path) as sampler:
                async with LoopMonitor() as probe:
                    await asyncio.gather(*(get_user(i, client, pool) for i in ids[:PROBE_CALLS]))
            if probe.blocked_share > PROBE_BLOCKED:
                _fail_blocked(source, named or _blame(source, None, sampler), probe, PROBE_CALLS, clients[0])

            # 4. Fifty at once. A stall or a slow run is measured again by the worker (remeasure).
            limit = SLOWDOWN * t1 + SLACK
            with LoopSampler(source.path) as sampler:
                async with LoopMonitor() as monitor:
                    with Stopwatch() as many:
                        results = await asyncio.gather(*(get_user(i, client, pool) for i in ids))
        stats = await api.stats()
        # 5. An id the API answers with 404 (after the counters: it is not one of the counted calls).
        missing = await _outcome(lambda: get_user(MISSING_ID, client, pool))
    finally:
        await client.aclose()
        await pool.close()

    if _stalled(monitor):
        _fail_blocked(source, named or _blame(source, None, sampler), monitor, CALLS, clients[0])

    got = {SINGLE_IDS[0]: first, SINGLE_IDS[1]: second, **dict(zip(ids, results, strict=True))}
    wrong = _wrong(got, expected)
    if wrong is not None:
        user_id, value, want = wrong
        raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) returned the wrong thing.",
                   measured=f"got {_shown(value)}", expected=f"{want} (the users row merged with the API's profile)",
                   hint="Return a dict: the row's id, name and email plus the profile's tier and score, "
                        "e.g. {**dict(row), **response.json()}.")

    total_calls = len(SINGLE_IDS) + PROBE_CALLS + CALLS
    if stats["requests"] < total_calls:
        raise fail(Reason.CLIENT_NOT_USED, "get_user did not send its requests through the client it was given.",
                   measured=f"{stats['requests']} of {total_calls} calls reached the API through `client`",
                   expected="every call uses `await client.get(...)` on the client passed in",
                   hint="Use the `client` argument (its base URL already points at the API): "
                        "client.get(f\"/users/{user_id}\"). Don't build URLs from API_URL or make your own client.")
    if acquired[0] < total_calls:
        raise fail(Reason.POOL_NOT_USED, "get_user did not query through the pool it was given.",
                   measured=f"{acquired[0]} of {total_calls} calls took a connection from `pool`",
                   expected="every call queries with `pool.fetchrow(...)` or `async with pool.acquire()`",
                   hint="Use the `pool` argument: `row = await pool.fetchrow(USER_SQL, user_id)`. "
                        "Connections of your own skip the pool's reuse and its limit (notebook 04).")
    if unawaited:
        raise fail(Reason.NOT_AWAITED, "a coroutine in get_user was created but never awaited, so it never ran.",
                   measured=unawaited[0].split("\n", 1)[0], expected="every coroutine awaited",
                   hint="Calling `asyncio.sleep(PAUSE)` only makes a coroutine object; "
                        "`await asyncio.sleep(PAUSE)` runs it.")

    if many.seconds > limit:
        queued = default_pool.jobs >= CALLS // 2
        raise fail(Reason.TOO_SLOW, f"{CALLS} concurrent calls took far longer than one call.",
                   measured=f"{many.seconds:.2f} s for {CALLS} calls, {many.seconds / t1:.1f}× one call ({t1:.2f} s)"
                            + (f"; {default_pool.jobs} jobs went to the default thread pool, which has "
                               f"{DEFAULT_POOL_THREADS} threads here" if queued else ""),
                   expected=f"at most {SLOWDOWN:g}× one call + {SLACK:g} s = {limit:.2f} s",
                   hint=("asyncio.to_thread shares one small default pool (5 threads on a 1-core machine): 50 pauses "
                         "queue for it. A pause needs no thread at all: await asyncio.sleep(PAUSE)." if queued else
                         "Are the calls waiting for each other somewhere: a lock, a pool of one, a thread pool?"))
    _judge_missing(missing)
    return passed(f"{CALLS} concurrent calls took about as long as one, the loop kept ticking, and a 404 raised.",
                  measured=f"{many.seconds:.2f} s for {CALLS} calls, {many.seconds / t1:.1f}× one call; "
                           f"loop blocked {monitor.blocked_share:.0%} of the time")


async def _outcome(call: Callable[[], Awaitable[Any]]) -> Any:
    """What one call of the learner's code gave: its value, or the exception it raised."""
    try:
        async with asyncio.timeout(MISSING_WITHIN):
            return await call()
    except Exception as exc:
        return exc


def _judge_missing(outcome: Any) -> None:
    """get_user(MISSING_ID) must raise the 404's HTTPStatusError (alone or in an ExceptionGroup)."""
    if isinstance(outcome, BaseException):
        if any(isinstance(e, httpx.HTTPStatusError) and e.response.status_code == 404 for e in exception_leaves(outcome)):
            return
        measured = f"get_user({MISSING_ID}) raised {type(outcome).__name__}: {str(outcome)[:100]}"
    else:
        measured = f"get_user({MISSING_ID}) returned {_shown(outcome)}"
    raise fail(Reason.STATUS_UNCHECKED, "the API answered 404, and get_user did not raise httpx.HTTPStatusError.",
               measured=measured + " (the API answers 404 for ids below 1)",
               expected="httpx.HTTPStatusError for any 4xx or 5xx answer",
               hint="Call `response.raise_for_status()` right after `await client.get(...)`: it raises for a 4xx "
                    "or 5xx before anything reads the error's body as a profile (or looks up a row that is not there).")


def _fail_blocked(source: Source, named: list[str], monitor: Any, calls: int, clients_made: int) -> NoReturn:
    made_clients = clients_made >= calls // 2
    if made_clients:
        hint = ("Creating an httpx.AsyncClient costs about 20 ms of CPU on the loop (it builds an SSL context). "
                "Use the `client` you are given; notebook 04 is all about sharing clients.")
    elif named:
        hint = ("Each of these holds the whole loop while it runs: use its async twin (await ...), "
                "or run hint(\"01-unblock-handler\").")
    else:
        hint = "Something in get_user runs without awaiting: time.sleep, a sync client or driver, CPU work?"
    detail = _blocked_text(named)
    if made_clients:
        detail = (detail + "; " if detail else "") + f"a new httpx.AsyncClient per call ({clients_made} made)"
    what = (f"a quick probe of {calls} concurrent calls of get_user (before the {CALLS})" if calls < CALLS
            else f"{calls} concurrent calls of get_user")
    raise fail(Reason.LOOP_BLOCKED, f"the event loop stalled during {what}, so the calls queued.",
               measured=monitor.summary() + (f"; {detail}" if detail else ""), expected=EXPECTED_FREE, hint=hint)


# --- 01-offload-cpu -----------------------------------------------------------------------


@exercise(str(EXERCISES / "ex01_offload_cpu" / "check.py"))  # hints, deadline: exercise.toml
async def check_offload_cpu(module: ModuleType, lab: Lab) -> Verdict:
    from ...lessons.n01_event_loop import hash_passwords_inline

    hash_passwords = require_coroutine_function(module, "hash_passwords")
    source = Source.of_module(module, "01-offload-cpu")

    # Warm-up: starts any pool the answer keeps, and catches crashes on a small input.
    warm = await hash_passwords(PASSWORDS[:2])
    # One measurement: a stall or a slow run is measured again by the worker (remeasure).
    with Stopwatch() as inline_before:
        expected = hash_passwords_inline(PASSWORDS)
    with LoopSampler(source.path) as sampler:
        async with LoopMonitor() as monitor:
            with Stopwatch() as answer:
                got = await hash_passwords(list(PASSWORDS))
    with Stopwatch() as inline_after:
        hash_passwords_inline(PASSWORDS)
    inline = max(inline_before.seconds, inline_after.seconds)

    if _stalled(monitor):
        named = _blame(source, None, sampler)
        raise fail(Reason.LOOP_BLOCKED, f"the event loop stalled while {len(PASSWORDS)} passwords were hashed.",
                   measured=monitor.summary() + (f"; the loop was busy in {', '.join(named[:3])}" if named else ""),
                   expected=EXPECTED_FREE,
                   hint="The hashing still runs on the loop's own thread. async def and asyncio.sleep(0) do not "
                        "move it; a thread does (hashlib releases the GIL).")
    if not isinstance(got, list) or got != expected or warm != expected[:2]:
        if isinstance(got, list) and sorted(got) == sorted(expected):
            order = [expected.index(h) for h in got]
            measured = f"the right hashes, in this order of the input: {order}"
        else:
            measured = f"got {type(got).__name__}: {str(got)[:100]}"
        raise fail(Reason.WRONG_RESULT, "hash_passwords returned the wrong hashes (or in the wrong order).",
                   measured=measured,
                   expected="a list with hash_password(p) for each password, in the same order",
                   hint="asyncio.gather returns results in the order of its arguments; as_completed does not.")
    if answer.seconds > CPU_SLOWDOWN * inline:
        raise fail(Reason.TOO_SLOW, "hash_passwords is much slower than hashing inline.",
                   measured=ratio_text(answer.seconds, inline).replace("the ideal", "inline"),
                   expected=f"at most {CPU_SLOWDOWN:g}× the inline time",
                   hint="Starting a process pool for every call costs more than the work. Threads are enough for "
                        "hashlib; create any pool once, outside the function.")
    return passed(f"{len(PASSWORDS)} hashes, right and in order, while the loop kept ticking.",
                  measured=f"{answer.seconds:.2f} s ({answer.seconds / inline:.2f}× inline); "
                           f"loop blocked {monitor.blocked_share:.0%} of the time")
