"""The verdicts of 03-bounded-fetch, from a recorded measurement (check.py measures), and the
plan its time limit comes from.

Jitter is what separates a semaphore from batching: a batch of `limit` waits for its slowest
member, so "gather over chunks" takes 1.8× the ideal with the check's sleeps (2.80 s for an
ideal of 1.55 s) while a semaphore keeps every slot busy and needs 1.04× (1.62 s) before any
overhead. The bound, 1.25× + 0.4 s = 2.34 s, sits between the two: measured, a semaphore took
1.07× to 1.20× at load averages 4 to 7, and batching 1.8×.

Pure functions: tests/judges/test_ex03_bounded_fetch.py gives every verdict and threshold from
hand-made measurements, in milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from ...grading.measure import exception_leaves
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

FETCH_N = 140
FETCH_LIMIT = 7  # not a round number, so a hard-coded Semaphore(10) or Semaphore(5) shows
FETCH_POOL = 20  # the given client's max_connections: above the limit, so over-limit shows
FETCH_SLACK = 1.25
FETCH_CONSTANT = 0.4  # seconds: client start-up and scheduling noise
ERROR_N = 6  # the error call: URL ERROR_AT answers 503 at once, the others after a short delay
ERROR_AT = 2
ERROR_STATUS = 503


def _greedy_makespan(sleeps: list[float], slots: int) -> float:
    """Time for `slots` workers taking jobs in input order, each the moment it is free."""
    free = [0.0] * slots
    for s in sleeps:
        i = min(range(slots), key=free.__getitem__)
        free[i] += s
    return max(free)


def _chunked_makespan(sleeps: list[float], size: int) -> float:
    """Time for gather over consecutive chunks of `size`: each chunk waits for its slowest."""
    return sum(max(sleeps[i:i + size]) for i in range(0, len(sleeps), size))


def bounded_fetch_plan(sleeps_ms: list[int], limit: int) -> dict[str, float]:
    """The ideal and the bound for a list of sleeps, and what a semaphore and batching would take."""
    sleeps = [ms / 1000 for ms in sleeps_ms]
    ideal = math.ceil(len(sleeps) / limit) * (sum(sleeps) / len(sleeps))
    return {
        "ideal": ideal,
        "bound": FETCH_SLACK * ideal + FETCH_CONSTANT,
        "semaphore": _greedy_makespan(sleeps, limit),
        "chunked": _chunked_makespan(sleeps, limit),
    }


@dataclass
class Measurement:
    """The FETCH_N requests with limit FETCH_LIMIT, counted at the server and in this process."""

    plan: dict[str, float]  # bounded_fetch_plan of the real sleeps
    expected: list[str]  # the right bodies, in URL order
    results: Any  # what fetch_all returned; None when it was still running at the check's timeout
    timeout: float  # seconds the check waited
    seconds: float
    peak: int  # the server's peak in flight
    connections: int  # TCP connections the server saw
    made: int  # httpx.AsyncClient constructed by the learner's code


def judge(m: Measurement) -> str:
    """Raise the failing verdict, or return the timing line the passing verdict shows."""
    plan = m.plan
    measured = (f"{FETCH_N} requests with limit={FETCH_LIMIT}: peak {m.peak} in flight at the server, "
                f"{m.connections} connections opened, {m.made} new clients, {m.seconds:.2f} s")
    if m.made or m.connections > FETCH_POOL:
        raise fail(Reason.CLIENT_PER_REQUEST, "fetch_all did not use the client it was given: it made new clients.",
                   measured=measured, expected=f"0 new clients, at most {FETCH_POOL} connections (the given pool)",
                   hint="Every httpx.AsyncClient is a new connection pool (notebook 04). Call `client.get` on the "
                        "client passed in, and never create one per request.")
    if m.peak > FETCH_LIMIT:
        raise fail(Reason.OVER_LIMIT, f"more than limit={FETCH_LIMIT} requests were in flight at once.",
                   measured=measured, expected=f"peak in flight ≤ {FETCH_LIMIT}",
                   hint="Is there exactly ONE semaphore that every request acquires? A semaphore made inside "
                        "the per-request coroutine (or none at all) bounds nothing.")
    if m.results is None:
        raise fail(Reason.TOO_SLOW, f"fetch_all was still running after {m.timeout:.0f} s.", measured=measured,
                   expected=f"about {plan['ideal']:.2f} s (ceil({FETCH_N}/{FETCH_LIMIT}) × mean latency)",
                   hint="Are the requests running one after another? Let `limit` of them run at the same time.")
    results = list(m.results) if isinstance(m.results, (list, tuple)) else m.results
    expected = m.expected
    if not isinstance(results, list) or len(results) != FETCH_N:
        raise fail(Reason.WRONG_RESULT, f"fetch_all should return a list of {FETCH_N} response bodies.",
                   measured=f"returned {type(results).__name__}"
                            + (f" of length {len(results)}" if hasattr(results, "__len__") else ""),
                   expected=f"a list of {FETCH_N} strings, one per URL", hint="Return `response.text` for every URL.")
    if results != expected:
        if sorted(map(str, results)) == sorted(expected):
            first = next(i for i, (a, b) in enumerate(zip(results, expected, strict=True)) if a != b)
            raise fail(Reason.WRONG_ORDER, "the bodies are all there, but not in the order of the URLs.",
                       measured=f"position {first} holds the body of another URL ({str(results[first])[:60]})",
                       expected="results[i] is the body of urls[i]",
                       hint="Completion order is not input order. Keep the tasks in a list in URL order and read "
                            "their results after the TaskGroup (or use gather, which keeps order).")
        bad = next(i for i, (a, b) in enumerate(zip(results, expected, strict=True)) if a != b)
        raise fail(Reason.WRONG_RESULT, "some results are not the response bodies.",
                   measured=f"results[{bad}] = {str(results[bad])[:80]!r}", expected=f"{expected[bad]!r}",
                   hint="Return `response.text` (a str) for each URL.")
    ratio = m.seconds / plan["ideal"]
    timing = (f"{m.seconds:.2f} s = {ratio:.2f}× the ideal {plan['ideal']:.2f} s "
              f"(ceil({FETCH_N}/{FETCH_LIMIT}) × mean latency {plan['ideal'] / math.ceil(FETCH_N / FETCH_LIMIT) * 1000:.0f} ms)")
    if m.seconds > plan["bound"]:
        raise fail(Reason.TOO_SLOW, "fetch_all took too long for its limit.", measured=f"{timing}; peak {m.peak} in flight",
                   expected=f"at most {FETCH_SLACK}× the ideal + {FETCH_CONSTANT} s = {plan['bound']:.2f} s "
                            f"(batches of {FETCH_LIMIT} would take about {plan['chunked']:.2f} s)",
                   hint="Batches wait for their slowest request while the other slots sit idle. With a semaphore, "
                        "a new request starts the moment any slot frees up.")
    return timing


def judge_error_call(outcome: Any) -> None:
    """One URL of ERROR_N answers 503: fetch_all must raise its HTTPStatusError (alone or in a group).
    `outcome` is what the call returned, or the exception it raised."""
    if isinstance(outcome, Exception):
        if any(isinstance(e, httpx.HTTPStatusError) and e.response.status_code == ERROR_STATUS
               for e in exception_leaves(outcome)):
            return
        measured = f"raised {type(outcome).__name__}: {str(outcome)[:100]}"
    elif isinstance(outcome, list) and len(outcome) > ERROR_AT:
        measured = f"returned a list whose [{ERROR_AT}] is the error's body: {str(outcome[ERROR_AT])[:80]!r}"
    else:
        measured = f"returned {str(outcome)[:100]}"
    raise fail(Reason.STATUS_UNCHECKED, f"one of {ERROR_N} URLs answered {ERROR_STATUS}, and fetch_all did not raise "
               "httpx.HTTPStatusError.", measured=f"urls[{ERROR_AT}] answered {ERROR_STATUS}; fetch_all {measured}",
               expected="httpx.HTTPStatusError (alone or in an ExceptionGroup) for any 4xx or 5xx answer",
               hint="Call `response.raise_for_status()` before returning `response.text`: the body of a 503 is a "
                    "string too, and a caller would take it for the page.")


def verdict(timing: str, peak: int, connections: int) -> Verdict:
    return passed(f"in order, never more than {FETCH_LIMIT} in flight, one shared client; a {ERROR_STATUS} raised.",
                  measured=f"{timing}; peak {peak} in flight; {connections} connections")
