"""The verdicts of 01-unblock-handler, from a recorded measurement (check.py measures).

Pure functions: tests/judges/test_ex01_unblock_handler.py gives every verdict and threshold
from a hand-made `Measurement`, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx

from ...grading.measure import EXPECTED_LOOP_FREE, STALL_SHARE, exception_leaves
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

CALLS = 50
PROBE_CALLS = 5
SLOWDOWN = 2.0  # 50 concurrent calls may take at most this × one call ...
SLACK = 0.15  # ... plus this many seconds: 50 fresh TCP connections and a busy 2-core machine
PROBE_BLOCKED = 0.6  # the 5-call probe fails only a clear block; borderline cases go on to the 50 calls
DEFAULT_POOL_THREADS = 5  # what asyncio gives a 1-core machine: min(32, cpu_count + 4)
SINGLE_IDS = (7, 8)  # the two single calls; the 50 ask for users 101..150
MISSING_ID = 0  # the API answers 404 for ids below 1; the users table has no row 0 either
TOTAL_CALLS = len(SINGLE_IDS) + PROBE_CALLS + CALLS


@dataclass
class Stall:
    """A run of `calls` concurrent calls under the loop monitor."""

    calls: int
    blocked_share: float
    summary: str  # LoopMonitor.summary()
    named: list[str] = field(default_factory=list)  # measure.name_blocking_lines
    clients_made: int = 0  # httpx.AsyncClient constructed by the learner's code so far


@dataclass
class Measurement:
    """Everything the check recorded, in the order it judges."""

    stall: Stall  # the 50 concurrent calls
    results: dict[int, Any]  # user id -> what get_user returned
    expected: dict[int, dict[str, Any]]  # user id -> the users row merged with the API profile
    requests: int  # requests that reached the API scope through `client`
    acquired: int  # connections taken from `pool`
    unawaited: list[str]  # "coroutine ... was never awaited" warnings
    one_call: float  # seconds for one call: the reference
    many: float  # seconds for the 50 concurrent calls
    default_pool_jobs: int  # jobs sent to the loop's default thread pool
    missing: Any  # what get_user(MISSING_ID) returned, or the exception it raised

    @property
    def limit(self) -> float:
        return SLOWDOWN * self.one_call + SLACK


def judge_probe(probe: Stall) -> None:
    """The 5-call probe: a handler that blocks all the way fails here, in about 5 × one call."""
    if probe.blocked_share > PROBE_BLOCKED:
        fail_blocked(probe)


def judge(m: Measurement) -> Verdict:
    if m.stall.blocked_share > STALL_SHARE:
        fail_blocked(m.stall)
    wrong = _wrong(m.results, m.expected)
    if wrong is not None:
        user_id, value, want = wrong
        raise fail(Reason.WRONG_RESULT, f"get_user({user_id}) returned the wrong thing.",
                   measured=f"got {_shown(value)}", expected=f"{want} (the users row merged with the API's profile)",
                   hint="Return a dict: the row's id, name and email plus the profile's tier and score, "
                        "e.g. {**dict(row), **response.json()}.")
    if m.requests < TOTAL_CALLS:
        raise fail(Reason.CLIENT_NOT_USED, "get_user did not send its requests through the client it was given.",
                   measured=f"{m.requests} of {TOTAL_CALLS} calls reached the API through `client`",
                   expected="every call uses `await client.get(...)` on the client passed in",
                   hint="Use the `client` argument (its base URL already points at the API): "
                        "client.get(f\"/users/{user_id}\"). Don't build URLs from API_URL or make your own client.")
    if m.acquired < TOTAL_CALLS:
        raise fail(Reason.POOL_NOT_USED, "get_user did not query through the pool it was given.",
                   measured=f"{m.acquired} of {TOTAL_CALLS} calls took a connection from `pool`",
                   expected="every call queries with `pool.fetchrow(...)` or `async with pool.acquire()`",
                   hint="Use the `pool` argument: `row = await pool.fetchrow(USER_SQL, user_id)`. "
                        "Connections of your own skip the pool's reuse and its limit (notebook 04).")
    if m.unawaited:
        raise fail(Reason.NOT_AWAITED, "a coroutine in get_user was created but never awaited, so it never ran.",
                   measured=m.unawaited[0].split("\n", 1)[0], expected="every coroutine awaited",
                   hint="Calling `asyncio.sleep(PAUSE)` only makes a coroutine object; "
                        "`await asyncio.sleep(PAUSE)` runs it.")
    if m.many > m.limit:
        queued = m.default_pool_jobs >= CALLS // 2
        raise fail(Reason.TOO_SLOW, f"{CALLS} concurrent calls took far longer than one call.",
                   measured=f"{m.many:.2f} s for {CALLS} calls, {m.many / m.one_call:.1f}× one call ({m.one_call:.2f} s)"
                            + (f"; {m.default_pool_jobs} jobs went to the default thread pool, which has "
                               f"{DEFAULT_POOL_THREADS} threads here" if queued else ""),
                   expected=f"at most {SLOWDOWN:g}× one call + {SLACK:g} s = {m.limit:.2f} s",
                   hint=("asyncio.to_thread shares one small default pool (5 threads on a 1-core machine): 50 pauses "
                         "queue for it. A pause needs no thread at all: await asyncio.sleep(PAUSE)." if queued else
                         "Are the calls waiting for each other somewhere: a lock, a pool of one, a thread pool?"))
    judge_missing(m.missing)
    return passed(f"{CALLS} concurrent calls took about as long as one, the loop kept ticking, and a 404 raised.",
                  measured=f"{m.many:.2f} s for {CALLS} calls, {m.many / m.one_call:.1f}× one call; "
                           f"loop blocked {m.stall.blocked_share:.0%} of the time")


def _wrong(results: dict[int, Any], expected: dict[int, dict[str, Any]]) -> tuple[int, Any, dict[str, Any]] | None:
    for user_id, got in results.items():
        want = expected[user_id]
        if not isinstance(got, Mapping) or any(got.get(k) != v for k, v in want.items()):
            return user_id, got, want
    return None


def _shown(value: Any) -> str:
    text = repr(dict(value)) if isinstance(value, Mapping) else f"a {type(value).__name__}: {value!r}"
    return text if len(text) <= 150 else text[:149] + "…"


def judge_missing(outcome: Any) -> None:
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


def fail_blocked(stall: Stall) -> NoReturn:
    made_clients = stall.clients_made >= stall.calls // 2
    named = stall.named
    if made_clients:
        hint = ("Creating an httpx.AsyncClient costs about 20 ms of CPU on the loop (it builds an SSL context). "
                "Use the `client` you are given; notebook 04 is all about sharing clients.")
    elif named:
        hint = ("Each of these holds the whole loop while it runs: use its async twin (await ...), "
                "or run hint(\"01-unblock-handler\").")
    else:
        hint = "Something in get_user runs without awaiting: time.sleep, a sync client or driver, CPU work?"
    detail = ("blocking calls: " + ", ".join(named[:5])) if named else ""
    if made_clients:
        detail = (detail + "; " if detail else "") + f"a new httpx.AsyncClient per call ({stall.clients_made} made)"
    what = (f"a quick probe of {stall.calls} concurrent calls of get_user (before the {CALLS})" if stall.calls < CALLS
            else f"{stall.calls} concurrent calls of get_user")
    raise fail(Reason.LOOP_BLOCKED, f"the event loop stalled during {what}, so the calls queued.",
               measured=stall.summary + (f"; {detail}" if detail else ""), expected=EXPECTED_LOOP_FREE, hint=hint)
