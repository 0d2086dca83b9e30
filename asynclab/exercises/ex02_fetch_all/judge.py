"""The verdicts of 02-fetch-all, from recorded measurements (check.py measures), and the rules
both exercises of notebook 02 share (speed, a result read too early, a /delay body): one copy,
which 02-fetch-report's judge imports.

Pure functions: tests/judges/test_ex02_fetch_all.py gives every verdict and threshold from
hand-made measurements, in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ...grading.measure import exception_leaves, group_name, ratio_text
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

N_FAST = 10  # requests of 150 ± 100 ms; one after another they take ~6× the slowest one
MAX_RATIO = 2.0  # wall time / slowest request; concurrent code measures 1.0-1.3 here
SLACK = 0.1  # seconds on top, for connection set-up on a slow machine
N_SLOW = 5  # slow siblings of the failing request
ERROR_MS = 100  # the failing request answers 500 after this
RAISE_WITHIN = 1.0  # seconds from the failure's start until the error must be out

# --- shared by both exercises of notebook 02 ----------------------------------------------------


def body_id(body: object) -> tuple[str | None, int]:
    """(id, slept_ms) from a /delay body, or (None, 0) when it is not one."""
    if not isinstance(body, str):
        return None, 0
    try:
        data = json.loads(body)
        return str(data["id"]), int(data["slept_ms"])
    except (ValueError, KeyError, TypeError):
        return None, 0


def judge_too_early(exc: BaseException, fn: str) -> None:
    """Fail with 'result-read-too-early' when `exc` is (or holds) an InvalidStateError."""
    if any(isinstance(e, asyncio.InvalidStateError) for e in exception_leaves(exc)):
        raise fail(
            Reason.RESULT_READ_TOO_EARLY,
            f"{fn} read a task's result inside the `async with` block, before the task was done.",
            measured=f"{fn} raised {group_name(exc)} on a run where every request succeeds",
            expected="the results, read after the block has waited for every task",
            hint="`task.result()` raises InvalidStateError while the task runs, and an error in the block "
                 "cancels the whole group. Read the results after the `async with` block.",
        )


def judge_speed(fn_name: str, seconds: float, slowest: float, n: int) -> None:
    if seconds > MAX_RATIO * slowest + SLACK:
        raise fail(
            Reason.TOO_SLOW,
            f"{fn_name} took far longer than its slowest request: are the requests running one after another?",
            measured=f"{n} requests in {ratio_text(seconds, slowest)} (the slowest request)",
            expected=f"at most {MAX_RATIO:g}× the slowest request (+{SLACK:g} s)",
            hint="Start every request before you wait for any of them: one task per URL.",
        )


# --- 02-fetch-all ---------------------------------------------------------------------------


def judge_bodies(result: Any, seconds: float) -> float:
    """Round 1, every request succeeds: the bodies of r0..r9 in input order, about as fast as the
    slowest request. Returns the slowest request's seconds."""
    expected = [f"r{i}" for i in range(N_FAST)]
    if not isinstance(result, Sequence) or isinstance(result, (str, bytes)) or len(result) != N_FAST:
        raise fail(Reason.WRONG_RESULT, "fetch_all should return a list with one body per URL.",
                   measured=f"returned {type(result).__name__}"
                   + (f" of length {len(result)}" if isinstance(result, Sequence) else ""),
                   expected=f"a list of {N_FAST} strings (response bodies)",
                   hint="Return the bodies, `[t.result() for t in tasks]`, in the order of `urls`.")
    parsed = [body_id(r) for r in result]
    maybe_ids = [i for i, _ in parsed]
    if None in maybe_ids:
        bad = next(r for r, (i, _) in zip(result, parsed, strict=True) if i is None)
        raise fail(Reason.WRONG_RESULT, "fetch_all should return each response's body as a string.",
                   measured=f"one element is {type(bad).__name__}: {str(bad)[:60]!r}",
                   expected="the text of each response (what fetch_text returns)",
                   hint="Use `fetch_text(client, url)` from the setup cell: it returns the body.")
    ids = [i for i in maybe_ids if i is not None]
    if ids != expected:
        if sorted(ids) == sorted(expected):
            ms_of = dict(parsed)
            by_speed = sorted(expected, key=lambda i: ms_of[i])
            how = " (fastest first: completion order)" if ids == by_speed else ""
            raise fail(Reason.WRONG_ORDER, f"fetch_all returned the right bodies in the wrong order{how}.",
                       measured=f"ids in this order: {', '.join(ids)}", expected=f"{', '.join(expected)} (the order of urls)",
                       hint="Keep the tasks in a list in input order and read their results in that order; "
                            "`as_completed` yields in completion order.")
        raise fail(Reason.WRONG_RESULT, "fetch_all returned bodies that do not belong to the URLs it was given.",
                   measured=f"ids: {', '.join(map(str, ids))}", expected=f"ids: {', '.join(expected)}",
                   hint="Fetch every URL in `urls` exactly once.")
    slowest = max(ms for _, ms in parsed) / 1000
    judge_speed("fetch_all", seconds, slowest, N_FAST)
    return slowest


@dataclass
class Ended:
    """How a call of the learner's function ended: `running` (not yet), `cancelled`, or with
    `error` (an exception) or `value`."""

    running: bool = False
    cancelled: bool = False
    error: BaseException | None = None
    value: Any = None


@dataclass
class FailureRun:
    """Round 2: one request fails fast among N_SLOW slow ones."""

    took: float  # seconds until fetch_all ended, or until RAISE_WITHIN (+ the error's time) passed
    in_time: bool  # it ended within RAISE_WITHIN of the failure
    ended: Ended  # in time: how; late: how it ended after a longer wait (maybe still running)
    ended_after: float = 0.0  # late: seconds from the start until the check stopped waiting
    in_flight_then: int = 0  # late: requests in flight when RAISE_WITHIN passed
    stats: dict[str, Any] = field(default_factory=dict)  # in time: the scope's counters once settled
    settled: float = 0.0  # in time: seconds from the error until those counters


SWALLOWED_HINT = ("Don't catch the error: let it (or the TaskGroup's ExceptionGroup) propagate. And check "
                  "the status: `response.text` of a 500 is just a string (`fetch_text` calls `raise_for_status()`).")


def judge_failure(run: FailureRun) -> str:
    """The error comes out at once, and every sibling request is cancelled. Returns what was measured."""
    ended = run.ended
    if not run.in_time:
        if not ended.running and not ended.cancelled and ended.error is None:
            raise fail(Reason.ERROR_SWALLOWED, "fetch_all returned a result although one of the requests failed.",
                       measured=f"it returned {type(ended.value).__name__} after {run.ended_after:.1f} s; the /error "
                                f"request had answered 500 after {ERROR_MS / 1000:.1f} s",
                       expected="httpx.HTTPStatusError raised at once, alone or in an ExceptionGroup", hint=SWALLOWED_HINT)
        raise fail(Reason.ERROR_TOO_LATE, "fetch_all was still running long after one of its requests had failed.",
                   measured=f"one request failed after {ERROR_MS / 1000:.1f} s; {run.took:.1f} s in, fetch_all had not "
                            f"raised, with {run.in_flight_then} requests in flight",
                   expected=f"the error raised within {RAISE_WITHIN:g} s, the other requests cancelled",
                   hint="Fail fast: when one request fails, cancel the others and raise.")
    if ended.cancelled:
        raise fail(Reason.WRONG_EXCEPTION, "fetch_all raised CancelledError instead of the request's error.",
                   measured="CancelledError", expected="httpx.HTTPStatusError, alone or in an ExceptionGroup",
                   hint="Let the failing request's own error come out of fetch_all.")
    error = ended.error
    if error is None:
        raise fail(Reason.ERROR_SWALLOWED, "fetch_all returned a result although one of the requests failed.",
                   measured=f"returned {type(ended.value).__name__}; the /error request answered 500",
                   expected="httpx.HTTPStatusError raised, alone or in an ExceptionGroup", hint=SWALLOWED_HINT)
    judge_too_early(error, "fetch_all")
    if not any(isinstance(e, httpx.HTTPStatusError) for e in exception_leaves(error)):
        raise fail(Reason.WRONG_EXCEPTION, "fetch_all raised, but not the failing request's error.",
                   measured=f"raised {group_name(error)}: {str(error)[:80]}",
                   expected="httpx.HTTPStatusError, alone or in an ExceptionGroup",
                   hint="Let the error from `fetch_text` propagate unchanged.")
    stats = run.stats
    if stats["in_flight"] > 0:
        raise fail(Reason.SIBLINGS_NOT_CANCELLED,
                   "fetch_all raised the error, but the other requests kept running: nothing cancelled them.",
                   measured=f"error raised after {run.took:.2f} s; {run.settled:.1f} s later the server still had "
                            f"{stats['in_flight']} of the {N_SLOW} other requests in flight",
                   expected="in-flight back to 0 right after the error (each sibling cancelled: a disconnect)",
                   hint="Neither `asyncio.gather` nor `asyncio.wait` cancels the other awaitables when one raises. "
                        "A TaskGroup does, and waits for them to stop.")
    if stats["completed"] > 1 or stats["disconnects"] != N_SLOW:
        raise fail(Reason.SIBLINGS_NOT_CANCELLED,
                   "some of the other requests ran to completion after the failure instead of being cancelled.",
                   measured=f"after the failure: {stats['completed'] - 1} requests completed, "
                            f"{stats['disconnects']} cancelled (disconnects)",
                   expected=f"0 completed, {N_SLOW} cancelled",
                   hint="Cancel every sibling as soon as one request fails.")
    return f"error after {run.took:.2f} s, {stats['disconnects']} disconnects, 0 left in flight"


def verdict(seconds: float, slowest: float, failure: str) -> Verdict:
    return passed(f"{N_FAST} requests in input order in about the time of the slowest; on a failure the error "
                  f"came out and all {N_SLOW} siblings were cancelled.",
                  measured=f"{ratio_text(seconds, slowest)}; {failure}")
