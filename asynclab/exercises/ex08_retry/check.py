"""The check of notebook 08 · Overload and retries: it measures, judge.py judges.

08-retry
    `async def call_with_retries(client, url, *, deadline, budget) -> str` against the lab's
    `/outage` partners (each in a fresh scope; the check's client records when every request
    left and every answer came back, per caller). In this order:
    1. one caller, a partner down for RECOVER_MS with `Retry-After: 1`, a budget of
       RECOVER_RETRIES retries: the call returns the recovered body ("gave-up-early",
       "wrong-result"); its retries waited ("retry-immediate": IMMEDIATE_SHARE of the gaps
       between an answer and the next request are under IMMEDIATE; an answer that never
       sleeps shows RECOVER_RETRIES such gaps, full jitter at most one or two); none came
       sooner than the `Retry-After` it was given ("retry-after-ignored"); a success without a
       request through the given client is "client-per-request" (nothing to judge the waits by);
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
import time
from collections import defaultdict
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx

from ...grading.measure import require_coroutine_function
from ...grading.registry import Verdict, exercise
from ...lab import Lab
from ...lessons.overload import RetryBudget
from .judge import (
    BUDGET_CALLERS,
    CALLERS,
    DEADLINE,
    GENEROUS,
    RECOVER_MS,
    RECOVER_RETRIES,
    SPREAD_MS,
    Call,
    Scenario,
    judge_budget,
    judge_client_error,
    judge_deadline,
    judge_recovers,
    judge_spread,
    verdict,
)


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

    def scenario(self, calls: list[Call]) -> Scenario:
        return Scenario(calls, self.requests, self.waits())


def _client(recorder: Recorder) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=5, trust_env=False,
                             event_hooks={"request": [recorder.on_request], "response": [recorder.on_response]})


async def _call(fn: Any, client: httpx.AsyncClient, url: str, deadline: float, budget: RetryBudget) -> Call:
    """The call's text, or the exception it raised, or "hung" when it outlived its deadline by 3 s."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline + 3.0):
            text = await fn(client, url, deadline=deadline, budget=budget)
    except TimeoutError as exc:
        took = time.perf_counter() - started
        return Call("hung", None, took) if took >= deadline + 2.9 else Call("raised", exc, took)
    except Exception as exc:
        return Call("raised", exc, time.perf_counter() - started)
    return Call("ok", text, time.perf_counter() - started)


def _outage(lab: Lab, down_ms: int, retry_after: int) -> str:
    return f"{lab.api.scoped().url}/outage?down_ms={down_ms}&status=503&retry_after={retry_after}"


async def _recovers(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    async with _client(rec) as client:
        call = await _call(fn, client, _outage(lab, RECOVER_MS, 1) + "&caller=0", GENEROUS,
                           RetryBudget(ratio=0.1, minimum=RECOVER_RETRIES))
    return judge_recovers(rec.scenario([call]))


async def _spread(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    url = _outage(lab, SPREAD_MS, 0)
    budget = RetryBudget(ratio=0.1, minimum=50)
    async with _client(rec) as client:
        calls = await asyncio.gather(*(_call(fn, client, f"{url}&caller={k}", GENEROUS, budget)
                                       for k in range(CALLERS)))
    return judge_spread(rec.scenario(list(calls)))


async def _client_error(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    async with _client(rec) as client:
        call = await _call(fn, client, f"{lab.api.scoped().url}/users/0", GENEROUS, RetryBudget(ratio=0.1, minimum=3))
    return judge_client_error(rec.scenario([call]))


async def _deadline(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    async with _client(rec) as client:
        call = await _call(fn, client, _outage(lab, 60_000, 0) + "&caller=0", DEADLINE,
                           RetryBudget(ratio=1.0, minimum=1000))
    return judge_deadline(rec.scenario([call]))


async def _budget(fn: Any, lab: Lab) -> str:
    rec = Recorder()
    url = _outage(lab, 60_000, 0)
    budget = RetryBudget(ratio=0.1, minimum=2)
    async with _client(rec) as client:
        calls = await asyncio.gather(*(_call(fn, client, f"{url}&caller={k}", 1.5, budget)
                                       for k in range(BUDGET_CALLERS)))
    return judge_budget(rec.scenario(list(calls)), budget)


@exercise(__file__)
async def check_retry(module: ModuleType, lab: Lab) -> Verdict:
    fn = require_coroutine_function(module, "call_with_retries")
    return verdict([await _recovers(fn, lab), await _spread(fn, lab), await _client_error(fn, lab),
                    await _deadline(fn, lab), await _budget(fn, lab)])
