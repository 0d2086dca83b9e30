"""The check of notebook 08 · Overload and retries.

08-retry
    `async def call_with_retries(client, url, *, deadline, budget) -> str` against the lab's
    `/outage` partners (each in a fresh scope; the check's client records when every request
    left and every answer came back, per caller). In this order:
    1. one caller, a partner down for RECOVER_MS with `Retry-After: 1`: the call returns the
       recovered body ("gave-up-early", "wrong-result"); its retries waited ("retry-immediate":
       the median gap between an answer and the next request is under IMMEDIATE); none came
       sooner than the `Retry-After` it was given ("retry-after-ignored");
    2. CALLERS callers at once, a partner down for SPREAD_MS without `Retry-After`: every call
       succeeds, and the first retries of the callers are spread ("retry-no-jitter": their
       waits span less than max(SPREAD_FLOOR, SPREAD_SHARE x the median wait), which is what
       one fixed sleep, or a backoff without jitter, gives);
    3. a 404: exactly one request, and the HTTP error raised ("retried-client-error",
       "client-error-returned", "client-error-as-unavailable");
    4. a partner that never recovers, `deadline=DEADLINE`: ServiceUnavailable within the
       deadline plus SLACK ("deadline-missed", "server-error-returned", "wrong-exception");
    5. BUDGET_CALLERS callers at once against a partner that never recovers, sharing one
       RetryBudget(ratio=0.1, minimum=2): at most BUDGET_CALLERS + the budget's retries were
       sent ("over-budget").
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx

from ...errors import ServiceUnavailable
from ...grading.measure import require_coroutine_function
from ...grading.reasons import Reason
from ...grading.registry import Verdict, exercise, fail, passed
from ...lab import Lab
from ...lessons.overload import RetryBudget

EXERCISE_ID = "08-retry"
RECOVER_MS, SPREAD_MS = 1500, 400
CALLERS, BUDGET_CALLERS = 8, 10
DEADLINE = 1.0  # seconds, scenario 4
GENEROUS = 5.0  # seconds: the deadline of the scenarios where the partner recovers
SLACK = 0.3  # seconds a call may overrun its deadline on a busy 2-core machine
IMMEDIATE = 0.02  # a median wait shorter than this is no wait at all
RETRY_AFTER_SLACK = 0.05  # the loop may run a timer a little early; Retry-After is whole seconds
SPREAD_FLOOR, SPREAD_SHARE = 0.02, 0.3


@dataclass
class Recorder:
    """Every request and answer the check's client saw, per caller (the `caller` query parameter)."""

    sent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    answered: dict[str, list[tuple[float, int, float | None]]] = field(default_factory=lambda: defaultdict(list))

    async def on_request(self, request: httpx.Request) -> None:
        self.sent[request.url.params.get("caller", "0")].append(time.perf_counter())

    async def on_response(self, response: httpx.Response) -> None:
        retry_after = response.headers.get("Retry-After")
        self.answered[response.request.url.params.get("caller", "0")].append(
            (time.perf_counter(), response.status_code, float(retry_after) if retry_after else None))

    @property
    def requests(self) -> int:
        return sum(len(times) for times in self.sent.values())

    def waits(self) -> list[tuple[int, float, float | None]]:
        """(retry number, seconds from the answer to the next request, that answer's Retry-After)."""
        out = []
        for caller, times in self.sent.items():
            for i, (answer_at, _, retry_after) in enumerate(self.answered[caller][: len(times) - 1]):
                out.append((i + 1, times[i + 1] - answer_at, retry_after))
        return out


def _client(recorder: Recorder) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=5, trust_env=False,
                             event_hooks={"request": [recorder.on_request], "response": [recorder.on_response]})


async def _call(fn: Any, client: httpx.AsyncClient, url: str, deadline: float,
                budget: RetryBudget) -> tuple[str, Any, float]:
    """("ok", text, seconds) or ("raised", exception, seconds) or ("hung", None, seconds)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline + 3.0):
            text = await fn(client, url, deadline=deadline, budget=budget)
    except TimeoutError as exc:
        took = time.perf_counter() - started
        return ("hung", None, took) if took >= deadline + 2.9 else ("raised", exc, took)
    except Exception as exc:
        return "raised", exc, time.perf_counter() - started
    return "ok", text, time.perf_counter() - started


def _outage(lab: Lab, down_ms: int, retry_after: int) -> str:
    return f"{lab.api.scoped().url}/outage?down_ms={down_ms}&status=503&retry_after={retry_after}"


def _recovered(text: object) -> bool:
    try:
        return isinstance(text, str) and json.loads(text) == {"ok": True, "recovered": True}
    except ValueError:
        return False


async def _recovers(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    async with _client(rec) as client:
        outcome, value, took = await _call(fn, client, _outage(lab, RECOVER_MS, 1) + "&caller=0", GENEROUS,
                                           RetryBudget(ratio=0.1, minimum=3))
    waits = rec.waits()
    if len(waits) >= 3 and statistics.median(w for _, w, _ in waits) < IMMEDIATE:
        raise fail(Reason.RETRY_IMMEDIATE, "every failed call was retried at once.",
                   measured=f"{rec.requests} requests in {took:.2f} s; median wait after a 503: "
                            f"{statistics.median(w for _, w, _ in waits) * 1000:.0f} ms",
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
                   measured=f"{took:.1f} s, {rec.requests} requests", expected=f"at most {GENEROUS} s",
                   hint="Put the whole call, retries and sleeps included, under `asyncio.timeout(deadline)`.")
    if outcome == "raised":
        raise fail(Reason.GAVE_UP_EARLY, "the call gave up on a partner that recovers.",
                   measured=f"{type(value).__name__}: {value} after {took:.2f} s and {rec.requests} requests",
                   expected=f"the body of the 200 that comes once the partner is back ({RECOVER_MS / 1000:g} s)",
                   hint="Retry 503s until the deadline or the budget runs out.")
    if not _recovered(value):
        raise fail(Reason.WRONG_RESULT, "the call did not return the body of the partner's 200.",
                   measured=f"returned {str(value)[:80]!r}", expected='\'{"ok": true, "recovered": true}\'',
                   hint="Return `response.text` of the first 2xx answer.")
    return f"recovered after {rec.requests} requests in {took:.2f} s"


async def _spread(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    url = _outage(lab, SPREAD_MS, 0)
    budget = RetryBudget(ratio=0.1, minimum=50)
    async with _client(rec) as client:
        outcomes = await asyncio.gather(*(_call(fn, client, f"{url}&caller={k}", GENEROUS, budget)
                                          for k in range(CALLERS)))
    failed = [o for o in outcomes if o[0] != "ok" or not _recovered(o[1])]
    if failed:
        outcome, value, took = failed[0]
        raise fail(Reason.GAVE_UP_EARLY, f"{len(failed)} of {CALLERS} callers did not get the recovered answer.",
                   measured=f"one {outcome}: {str(value)[:80]} after {took:.2f} s",
                   expected=f"all {CALLERS} succeed: the partner is back after {SPREAD_MS / 1000:g} s",
                   hint="Keep retrying 503s (within the budget and the deadline).")
    first = [w for n, w, _ in rec.waits() if n == 1]
    spread, median = max(first) - min(first), statistics.median(first)
    if spread < max(SPREAD_FLOOR, SPREAD_SHARE * median):
        raise fail(Reason.RETRY_NO_JITTER, f"the first retries of {CALLERS} callers that failed together came back together.",
                   measured=f"their waits: {min(first) * 1000:.0f} to {max(first) * 1000:.0f} ms",
                   expected=f"spread over at least {max(SPREAD_FLOOR, SPREAD_SHARE * median) * 1000:.0f} ms",
                   hint="Full jitter: `random.uniform(0, min(cap, base * 2 ** attempt))`, so that each caller "
                        "waits its own random time.")
    return f"{CALLERS} callers' first retries spread over {spread * 1000:.0f} ms"


async def _client_error(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    async with _client(rec) as client:
        outcome, value, took = await _call(fn, client, f"{lab.api.scoped().url}/users/0", GENEROUS,
                                           RetryBudget(ratio=0.1, minimum=3))
    if rec.requests > 1:
        raise fail(Reason.RETRIED_CLIENT_ERROR, "a 404 was retried.",
                   measured=f"{rec.requests} requests for one call to /users/0 (404)", expected="1 request",
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


async def _deadline(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    async with _client(rec) as client:
        outcome, value, took = await _call(fn, client, _outage(lab, 60_000, 0) + "&caller=0", DEADLINE,
                                           RetryBudget(ratio=1.0, minimum=1000))
    if outcome == "hung" or took > DEADLINE + SLACK:
        raise fail(Reason.DEADLINE_MISSED, "the retries went on past the deadline.",
                   measured=f"{took:.2f} s and {rec.requests} requests with deadline={DEADLINE}",
                   expected=f"ServiceUnavailable within {DEADLINE} s (+{SLACK} s)",
                   hint="One deadline for the whole call: `async with asyncio.timeout(deadline):` around the loop, "
                        "and turn its TimeoutError into ServiceUnavailable.")
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


async def _budget(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    url = _outage(lab, 60_000, 0)
    budget = RetryBudget(ratio=0.1, minimum=2)
    async with _client(rec) as client:
        await asyncio.gather(*(_call(fn, client, f"{url}&caller={k}", 1.5, budget) for k in range(BUDGET_CALLERS)))
    allowed = BUDGET_CALLERS + budget.minimum + budget.ratio * BUDGET_CALLERS
    if rec.requests > allowed:
        raise fail(Reason.OVER_BUDGET, "the retries went past the shared retry budget.",
                   measured=f"{rec.requests} requests from {BUDGET_CALLERS} calls to a partner that stays down; {budget!r}",
                   expected=f"at most {allowed:.0f}: {BUDGET_CALLERS} calls + 10% + {budget.minimum}",
                   hint="Call `budget.call()` once per call and `budget.spend()` before every retry; "
                        "when it says False, give up with ServiceUnavailable.")
    return f"{rec.requests} requests from {BUDGET_CALLERS} calls (budget {allowed:.0f})"


@exercise(__file__)
async def check_retry(module: ModuleType, lab: Lab) -> Verdict:
    fn = require_coroutine_function(module, "call_with_retries")
    found = [await _recovers(fn, lab), await _spread(fn, lab), await _client_error(fn, lab),
             await _deadline(fn, lab), await _budget(fn, lab)]
    return passed("retries that wait, spread, honour Retry-After, stop at the deadline and the budget.",
                  measured="; ".join(found))
