"""The verdicts of 08-retry, from recorded scenarios (check.py runs them against the lab).

Each scenario is judged by its own function, in the check's order; each returns the line the
passing verdict shows or raises the failing verdict. The thresholds are ratios and floors, never
absolute times a fast laptop or a busy core would cross: IMMEDIATE separates "no sleep at all"
(microseconds) from any backoff, and IMMEDIATE_SHARE asks that nearly every wait be that short,
not only the median: full jitter draws a few waits near zero by chance (two of three under 20 ms
about once in a hundred runs), while an answer that never sleeps has them all there but for a
scheduling hiccup. SPREAD_SHARE separates full jitter (first retries spread over
the whole backoff) from one fixed sleep (spread only by scheduling noise).

Pure functions: tests/judges/test_ex08_retry.py gives every verdict and threshold from hand-made
scenarios, in milliseconds.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from ...errors import ServiceUnavailable
from ...grading.reasons import Reason
from ...grading.registry import CheckFailed, Verdict, fail, passed, still_running_far_past
from ...lessons.overload import RetryBudget

RECOVER_MS, SPREAD_MS = 1500, 400
RECOVER_RETRIES = 10  # scenario 1's budget: enough retries for an answer that never sleeps to show it
CALLERS, BUDGET_CALLERS = 8, 10
DEADLINE = 1.0  # seconds, scenario 4
GENEROUS = 5.0  # seconds: the deadline of the scenarios where the partner recovers
SLACK = 0.3  # seconds a call may overrun its deadline on a busy 2-core machine
IMMEDIATE = 0.02  # a wait shorter than this is no wait at all
IMMEDIATE_SHARE = 0.8  # "retried at once": at least 3 waits, and this share of them under IMMEDIATE
RETRY_AFTER_SLACK = 0.05  # the loop may run a timer a little early; Retry-After is whole seconds
SPREAD_FLOOR, SPREAD_SHARE = 0.02, 0.3


@dataclass
class Call:
    """One call of the learner's function: ("ok", text), ("raised", exception) or ("hung", None)."""

    outcome: str
    value: Any
    took: float  # seconds


@dataclass
class Scenario:
    """The calls of one scenario and what the check's client recorded for them."""

    calls: list[Call]
    requests: int  # requests the client sent, all callers together
    # (retry number, seconds from an answer to the next request of that caller, that answer's Retry-After)
    waits: list[tuple[int, float, float | None]] = field(default_factory=list)


def recovered(text: object) -> bool:
    """Whether `text` is the body of the outage partner's 200 once it is back."""
    try:
        return isinstance(text, str) and json.loads(text) == {"ok": True, "recovered": True}
    except ValueError:
        return False


def judge_recovers(s: Scenario) -> str:
    """Scenario 1: one caller, a partner down for RECOVER_MS with `Retry-After: 1`."""
    call = s.calls[0]
    outcome, value, took = call.outcome, call.value, call.took
    if outcome == "ok" and s.requests == 0:
        raise _not_the_given_client()
    waits = s.waits
    short = sum(w < IMMEDIATE for _, w, _ in waits)  # no sleep at all
    if len(waits) >= 3 and short >= IMMEDIATE_SHARE * len(waits):
        raise fail(Reason.RETRY_IMMEDIATE, "the failed calls were retried at once.",
                   measured=f"{s.requests} requests in {took:.2f} s; "
                            f"{short} of {len(waits)} waits after a 503 under "
                            f"{IMMEDIATE * 1000:.0f} ms (median {statistics.median(w for _, w, _ in waits) * 1000:.0f} ms)",
                   expected=f"3 requests: a partner down for {RECOVER_MS / 1000:g} s with Retry-After: 1",
                   hint="Sleep before each retry: `await asyncio.sleep(...)` with a backoff that grows, "
                        "and at least the Retry-After the answer asks for.")
    early = [(w, ra) for _, w, ra in waits if ra is not None and w < ra - RETRY_AFTER_SLACK]
    if early:
        w, ra = min(early)
        raise fail(Reason.RETRY_AFTER_IGNORED, "a retry came sooner than the partner's Retry-After asked.",
                   measured=f"a 503 said Retry-After: {ra:g}; the next request came {w:.2f} s later",
                   expected=f"at least {ra:g} s later",
                   hint="Read `response.headers.get(\"Retry-After\")` (whole seconds) and wait at least that long, "
                        "plus your jitter.")
    if outcome == "hung":
        raise fail(Reason.DEADLINE_MISSED, "the call was still running long after its deadline.",
                   measured=f"{took:.1f} s, {s.requests} requests", expected=f"at most {GENEROUS} s",
                   hint="Put the whole call, retries and sleeps included, under `asyncio.timeout(deadline)`.")
    if outcome == "raised":
        raise fail(Reason.GAVE_UP_EARLY, "the call gave up on a partner that recovers.",
                   measured=f"{type(value).__name__}: {value} after {took:.2f} s and {s.requests} requests",
                   expected=f"the body of the 200 that comes once the partner is back ({RECOVER_MS / 1000:g} s)",
                   hint="Retry 503s until the deadline or the budget runs out.")
    if not recovered(value):
        raise fail(Reason.WRONG_RESULT, "the call did not return the body of the partner's 200.",
                   measured=f"returned {str(value)[:80]!r}", expected='\'{"ok": true, "recovered": true}\'',
                   hint="Return `response.text` of the first 2xx answer.")
    return f"recovered after {s.requests} requests in {took:.2f} s"


def judge_spread(s: Scenario) -> str:
    """Scenario 2: CALLERS callers at once, a partner down for SPREAD_MS without `Retry-After`."""
    failed = [c for c in s.calls if c.outcome != "ok" or not recovered(c.value)]
    if failed:
        first_failed = failed[0]
        raise fail(Reason.GAVE_UP_EARLY, f"{len(failed)} of {CALLERS} callers did not get the recovered answer.",
                   measured=f"one {first_failed.outcome}: {str(first_failed.value)[:80]} after "
                            f"{first_failed.took:.2f} s",
                   expected=f"all {CALLERS} succeed: the partner is back after {SPREAD_MS / 1000:g} s",
                   hint="Keep retrying 503s (within the budget and the deadline).")
    first = [w for n, w, _ in s.waits if n == 1]
    if not first:
        raise _not_the_given_client()
    spread, median = max(first) - min(first), statistics.median(first)
    if spread < max(SPREAD_FLOOR, SPREAD_SHARE * median):
        raise fail(Reason.RETRY_NO_JITTER, f"the first retries of {CALLERS} callers that failed together came back together.",
                   measured=f"their waits: {min(first) * 1000:.0f} to {max(first) * 1000:.0f} ms",
                   expected=f"spread over at least {max(SPREAD_FLOOR, SPREAD_SHARE * median) * 1000:.0f} ms",
                   hint="Full jitter: `random.uniform(0, min(cap, base * 2 ** attempt))`, so that each caller "
                        "waits its own random time.")
    return f"{CALLERS} callers' first retries spread over {spread * 1000:.0f} ms"


def judge_client_error(s: Scenario) -> str:
    """Scenario 3: one call to a URL that answers 404."""
    outcome, value = s.calls[0].outcome, s.calls[0].value
    if s.requests > 1:
        raise fail(Reason.RETRIED_CLIENT_ERROR, "a 404 was retried.",
                   measured=f"{s.requests} requests for one call to /users/0 (404)", expected="1 request",
                   hint="A 4xx (except 429) is the caller's mistake and will fail again: `raise_for_status()` "
                        "and let it out, without a retry.")
    if outcome == "ok":
        raise fail(Reason.CLIENT_ERROR_RETURNED, "the body of a 404 was returned as if it were an answer.",
                   measured=f"returned {str(value)[:80]!r}", expected="httpx.HTTPStatusError raised",
                   hint="Call `response.raise_for_status()` on an answer you do not retry.")
    if isinstance(value, ServiceUnavailable):
        raise fail(Reason.CLIENT_ERROR_AS_UNAVAILABLE, "a 404 was reported as ServiceUnavailable.",
                   measured=f"ServiceUnavailable: {value}", expected="httpx.HTTPStatusError (the caller's mistake)",
                   hint="Only what may work later is 'unavailable'; raise a 4xx as it is.")
    return f"a 404: 1 request, {type(value).__name__} raised"


def judge_deadline(s: Scenario) -> str:
    """Scenario 4: a partner that never recovers, `deadline=DEADLINE`."""
    outcome, value, took = s.calls[0].outcome, s.calls[0].value, s.calls[0].took
    if outcome == "hung" or took > DEADLINE + SLACK:
        raise fail(Reason.DEADLINE_MISSED, "the retries went on past the deadline.",
                   measured=f"{took:.2f} s and {s.requests} requests with deadline={DEADLINE}",
                   expected=f"ServiceUnavailable within {DEADLINE} s (+{SLACK} s)",
                   hint="One deadline for the whole call: `async with asyncio.timeout(deadline):` around the loop, "
                        "and turn its TimeoutError into ServiceUnavailable.",
                   decisive=outcome == "hung" and still_running_far_past(took, DEADLINE + SLACK))
    if outcome == "ok":
        raise fail(Reason.SERVER_ERROR_RETURNED, "the body of a 503 was returned as an answer.",
                   measured=f"returned {str(value)[:80]!r}", expected="ServiceUnavailable",
                   hint="When you stop retrying, raise ServiceUnavailable.")
    if not isinstance(value, ServiceUnavailable):
        raise fail(Reason.WRONG_EXCEPTION, "a partner that never recovered gave the wrong exception.",
                   measured=f"{type(value).__name__}: {value}", expected="asynclab.ServiceUnavailable",
                   hint="Catch the deadline's TimeoutError (and give up on the budget) with "
                        "`raise ServiceUnavailable(...)`.")
    return f"gave up in {took:.2f} s (deadline {DEADLINE} s)"


def judge_budget(s: Scenario, budget: RetryBudget) -> str:
    """Scenario 5: BUDGET_CALLERS callers at once sharing `budget`, a partner that never recovers."""
    allowed = BUDGET_CALLERS + budget.minimum + budget.ratio * BUDGET_CALLERS
    if s.requests > allowed:
        raise fail(Reason.OVER_BUDGET, "the retries went past the shared retry budget.",
                   measured=f"{s.requests} requests from {BUDGET_CALLERS} calls to a partner that stays down; {budget!r}",
                   expected=f"at most {allowed:.0f}: {BUDGET_CALLERS} calls + 10% + {budget.minimum}",
                   hint="Call `budget.call()` once per call and `budget.spend()` before every retry; "
                        "when it says False, give up with ServiceUnavailable.")
    return f"{s.requests} requests from {BUDGET_CALLERS} calls (budget {allowed:.0f})"


def _not_the_given_client() -> CheckFailed:
    """Calls that succeeded without a request through the check's client: nothing to judge by."""
    return fail(Reason.CLIENT_PER_REQUEST, "the call did not send its requests through the client it was given.",
                measured="the given client saw no retry", expected="every request through `client`",
                hint="Call `client.get(url)` on the client passed in; do not make your own.")


def verdict(found: list[str]) -> Verdict:
    """The passing verdict: the lines of the five scenarios."""
    return passed("retries that wait, spread, honour Retry-After, stop at the deadline and the budget.",
                  measured="; ".join(found))
