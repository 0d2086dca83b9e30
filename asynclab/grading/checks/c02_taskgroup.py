"""Checks for notebook 02 · TaskGroup: structured concurrency.

Both checks watch the lab's HTTP API from the server side (a scoped handle, so concurrent
checks never mix counts): a request that was really cancelled shows up there as a disconnect,
and one that was left running shows up as in-flight. That is what separates "the error was
raised" from "the error was raised and the other requests stopped".

02-fetch-all     fetch_all(client, urls) -> list[str]: in order, as fast as the slowest request,
                 and on a failure the error comes out and every sibling request is cancelled.
02-fetch-report  fetch_report(client, urls) -> dict[str, str | Exception]: every outcome, as
                 fast as the slowest request, and cancelling the caller cancels everything.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import httpx

from ...lab import Lab
from ...services.api_client import ApiHandle
from ..layout import ROOT as EXERCISES
from ..measure import Stopwatch, ratio_text, require_coroutine_function
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed

# Concurrency: 10 requests of 150 ± 100 ms; one after another they take ~6× the slowest one.
N_FAST = 10
FAST_MS, FAST_JITTER, SEED = 150, 100, 7
MAX_RATIO = 2.0  # wall time / slowest request; concurrent code measures 1.0-1.3 here
SLACK = 0.1  # seconds on top, for connection set-up on a slow machine

# Failure and cancellation: slow siblings that would still be running long after the verdict.
SLOW_MS = 2500
N_SLOW = 5
ERROR_MS = 100
RAISE_WITHIN = 1.0  # seconds from the failure's start until the error must be out
SETTLE = 1.0  # seconds the server gets to see the cancelled requests go
POLL = 0.05


def exception_leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(exception_leaves(inner))
        return out
    return [exc]


def _name(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(sorted({type(e).__name__ for e in exception_leaves(exc)}))
        return f"{type(exc).__name__}({inner})"
    return type(exc).__name__


def _fast_urls(api: ApiHandle, prefix: str) -> list[str]:
    return [f"{api.url}/delay?ms={FAST_MS}&jitter={FAST_JITTER}&seed={SEED}&id={prefix}{i}" for i in range(N_FAST)]


def _body_id(body: object) -> tuple[str | None, int]:
    """(id, slept_ms) from a /delay body, or (None, 0) when it is not one."""
    if not isinstance(body, str):
        return None, 0
    try:
        data = json.loads(body)
        return str(data["id"]), int(data["slept_ms"])
    except (ValueError, KeyError, TypeError):
        return None, 0


def _too_early(exc: BaseException, fn: str) -> None:
    """Fail with 'result-read-too-early' when `exc` is (or holds) an InvalidStateError."""
    if any(isinstance(e, asyncio.InvalidStateError) for e in exception_leaves(exc)):
        raise fail(
            Reason.RESULT_READ_TOO_EARLY,
            f"{fn} read a task's result inside the `async with` block, before the task was done.",
            measured=f"{fn} raised {_name(exc)} on a run where every request succeeds",
            expected="the results, read after the block has waited for every task",
            hint="`task.result()` raises InvalidStateError while the task runs, and an error in the block "
                 "cancels the whole group. Read the results after the `async with` block.",
        )


async def _in_flight_after(api: ApiHandle, seconds: float) -> dict[str, Any]:
    """Poll the server until nothing of this scope is in flight, or `seconds` pass; return the last stats."""
    deadline = time.monotonic() + seconds
    while True:
        stats = await api.stats()
        if stats["in_flight"] == 0 or time.monotonic() >= deadline:
            return stats
        await asyncio.sleep(POLL)


def _check_speed(fn_name: str, seconds: float, slowest: float, n: int) -> None:
    if seconds > MAX_RATIO * slowest + SLACK:
        raise fail(
            Reason.TOO_SLOW,
            f"{fn_name} took far longer than its slowest request: are the requests running one after another?",
            measured=f"{n} requests in {ratio_text(seconds, slowest)} (the slowest request)",
            expected=f"at most {MAX_RATIO:g}× the slowest request (+{SLACK:g} s)",
            hint="Start every request before you wait for any of them: one task per URL.",
        )


# --- 02-fetch-all ---------------------------------------------------------------------------

@exercise(str(EXERCISES / "ex02_fetch_all" / "check.py"))  # hints, deadline: exercise.toml
async def check_fetch_all(module: ModuleType, lab: Lab) -> Verdict:
    fetch_all = require_coroutine_function(module, "fetch_all")
    api = lab.api.scoped()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        # 1. Every request succeeds: the bodies, in input order, in about the time of the slowest.
        urls = _fast_urls(api, "r")
        expected = [f"r{i}" for i in range(N_FAST)]
        with Stopwatch() as sw:
            try:
                result = await fetch_all(client, urls)
            except Exception as exc:  # other errors than InvalidStateError go to the worker's "crashed"
                _too_early(exc, "fetch_all")
                raise
        seconds = sw.seconds
        if not isinstance(result, Sequence) or isinstance(result, (str, bytes)) or len(result) != N_FAST:
            raise fail(Reason.WRONG_RESULT, "fetch_all should return a list with one body per URL.",
                       measured=f"returned {type(result).__name__}"
                       + (f" of length {len(result)}" if isinstance(result, Sequence) else ""),
                       expected=f"a list of {N_FAST} strings (response bodies)",
                       hint="Return the bodies, `[t.result() for t in tasks]`, in the order of `urls`.")
        parsed = [_body_id(r) for r in result]
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
        _check_speed("fetch_all", seconds, slowest, N_FAST)

        # 2. One request fails fast among slow ones: the error comes out, and the slow ones stop.
        slow = [f"{api.url}/delay?ms={SLOW_MS}&id=slow{i}" for i in range(N_SLOW)]
        failing = f"{api.url}/error?rate=1&ms={ERROR_MS}&id=boom"
        urls = slow[:2] + [failing] + slow[2:]
        await api.reset()
        started = time.monotonic()
        task = asyncio.ensure_future(fetch_all(client, urls))
        done, _ = await asyncio.wait({task}, timeout=RAISE_WITHIN + ERROR_MS / 1000)
        took = time.monotonic() - started
        if not done:
            stats = await api.stats()
            done, _ = await asyncio.wait({task}, timeout=SLOW_MS / 1000 + 1.5)  # see how it ends
            if done and not task.cancelled() and task.exception() is None:
                raise fail(Reason.ERROR_SWALLOWED, "fetch_all returned a result although one of the requests failed.",
                           measured=f"it returned {type(task.result()).__name__} after "
                                    f"{time.monotonic() - started:.1f} s; the /error request had answered 500 "
                                    f"after {ERROR_MS / 1000:.1f} s",
                           expected="httpx.HTTPStatusError raised at once, alone or in an ExceptionGroup",
                           hint="Don't catch the error: let it (or the TaskGroup's ExceptionGroup) propagate. And check "
                                "the status: `response.text` of a 500 is just a string (`fetch_text` calls "
                                "`raise_for_status()`).")
            task.cancel()
            await asyncio.wait({task}, timeout=2)
            raise fail(Reason.ERROR_TOO_LATE,
                       "fetch_all was still running long after one of its requests had failed.",
                       measured=f"one request failed after {ERROR_MS / 1000:.1f} s; {took:.1f} s in, fetch_all had not "
                                f"raised, with {stats['in_flight']} requests in flight",
                       expected=f"the error raised within {RAISE_WITHIN:g} s, the other requests cancelled",
                       hint="Fail fast: when one request fails, cancel the others and raise.")
        if task.cancelled():
            raise fail(Reason.WRONG_EXCEPTION, "fetch_all raised CancelledError instead of the request's error.",
                       measured="CancelledError", expected="httpx.HTTPStatusError, alone or in an ExceptionGroup",
                       hint="Let the failing request's own error come out of fetch_all.")
        error = task.exception()
        if error is None:
            raise fail(Reason.ERROR_SWALLOWED, "fetch_all returned a result although one of the requests failed.",
                       measured=f"returned {type(task.result()).__name__}; the /error request answered 500",
                       expected="httpx.HTTPStatusError raised, alone or in an ExceptionGroup",
                       hint="Don't catch the error: let it (or the TaskGroup's ExceptionGroup) propagate. And check "
                                "the status: `response.text` of a 500 is just a string (`fetch_text` calls "
                                "`raise_for_status()`).")
        _too_early(error, "fetch_all")
        if not any(isinstance(e, httpx.HTTPStatusError) for e in exception_leaves(error)):
            raise fail(Reason.WRONG_EXCEPTION, "fetch_all raised, but not the failing request's error.",
                       measured=f"raised {_name(error)}: {str(error)[:80]}",
                       expected="httpx.HTTPStatusError, alone or in an ExceptionGroup",
                       hint="Let the error from `fetch_text` propagate unchanged.")
        raised_at = took
        stats = await _in_flight_after(api, SETTLE)
        settled = time.monotonic() - started - raised_at
        if stats["in_flight"] > 0:
            raise fail(Reason.SIBLINGS_NOT_CANCELLED,
                       "fetch_all raised the error, but the other requests kept running: nothing cancelled them.",
                       measured=f"error raised after {raised_at:.2f} s; {settled:.1f} s later the server still had "
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
    return passed(f"{N_FAST} requests in input order in about the time of the slowest; on a failure the error "
                  f"came out and all {N_SLOW} siblings were cancelled.",
                  measured=f"{ratio_text(seconds, slowest)}; error after {raised_at:.2f} s, "
                           f"{stats['disconnects']} disconnects, 0 left in flight")


# --- 02-fetch-report ------------------------------------------------------------------------

N_ERRORS = 2
CANCEL_AFTER_MIN = 0.3  # the check waits at least this long (and until the server sees every request) before cancelling


@exercise(str(EXERCISES / "ex02_fetch_report" / "check.py"))  # hints, deadline: exercise.toml
async def check_fetch_report(module: ModuleType, lab: Lab) -> Verdict:
    fetch_report = require_coroutine_function(module, "fetch_report")
    api = lab.api.scoped()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        # 1. A mix of successes and failures: every URL maps to its body or its exception.
        good = _fast_urls(api, "ok")[:8]
        bad = [f"{api.url}/error?rate=1&ms={FAST_MS}&id=bad{i}" for i in range(N_ERRORS)]
        urls = good[:3] + bad[:1] + good[3:6] + bad[1:] + good[6:]
        with Stopwatch() as sw:
            try:
                report = await fetch_report(client, urls)
            except Exception as exc:
                _too_early(exc, "fetch_report")
                raise fail(Reason.ERROR_NOT_REPORTED, "fetch_report raised instead of putting the failures in the report.",
                           measured=f"raised {_name(exc)} (2 of the {len(urls)} URLs answer 500)",
                           expected="a dict: each URL -> its body, or the exception its request raised",
                           hint="Catch `Exception` around each request, inside its own task, and return it as a value. "
                                "A TaskGroup without that raises an ExceptionGroup and cancels the rest.") from None
        seconds = sw.seconds
        if not isinstance(report, Mapping):
            raise fail(Reason.WRONG_RESULT, "fetch_report should return a dict.", measured=f"returned {type(report).__name__}",
                       expected="dict[str, str | Exception], one entry per URL",
                       hint="Build `{url: outcome}` for every URL.")
        missing = [u for u in urls if u not in report]
        if missing or len(report) != len(urls):
            raise fail(Reason.WRONG_RESULT, "fetch_report's dict should have exactly one entry per URL, keyed by the URL.",
                       measured=f"{len(report)} entries, {len(missing)} of the {len(urls)} URLs missing",
                       expected=f"{len(urls)} entries, keys = the URLs given",
                       hint="Key the report by the URL string you were given.")
        slowest = 0.0
        for url in urls:
            value = report[url]
            if isinstance(value, BaseException) and not isinstance(value, Exception):
                raise fail(Reason.CANCELLED_AS_VALUE, "fetch_report put a non-Exception (a cancellation) in the report.",
                           measured=f"a URL maps to {type(value).__name__}, a BaseException",
                           expected="bodies and Exception instances only",
                           hint="Catch `Exception`, not `BaseException`: cancellation must propagate.")
            if url in bad:
                if not isinstance(value, Exception):
                    raise fail(Reason.WRONG_RESULT, "a failing URL should map to the exception its request raised.",
                               measured=f"a URL that answers 500 maps to {type(value).__name__}: {str(value)[:60]!r}",
                               expected="the exception instance (httpx.HTTPStatusError from fetch_text)",
                               hint="Store the exception object itself, not its text, and not the error body: a 4xx/5xx "
                                    "must raise (`response.raise_for_status()`, as `fetch_text` does).")
                slowest = max(slowest, FAST_MS / 1000)
                continue
            got_id, ms = _body_id(value)
            want = good.index(url)
            if got_id != f"ok{want}":
                raise fail(Reason.WRONG_RESULT, "a URL maps to something other than its own body.",
                           measured=f"a /delay URL maps to {type(value).__name__}: {str(value)[:60]!r}",
                           expected="the response body of that URL (a string)",
                           hint="Use `fetch_text(client, url)` and keep each result with its own URL.")
            slowest = max(slowest, ms / 1000)
        _check_speed("fetch_report", seconds, slowest, len(urls))

        # 2. Cancel the caller mid-flight: CancelledError out, and every request stopped.
        await api.reset()
        slow = [f"{api.url}/delay?ms={SLOW_MS}&id=slow{i}" for i in range(N_SLOW)]
        quick = f"{api.url}/delay?ms=20&id=quick"
        urls = [quick] + slow
        started = time.monotonic()
        task = asyncio.ensure_future(fetch_report(client, urls))
        while time.monotonic() - started < SETTLE:  # wait until the server sees the slow requests running
            await asyncio.sleep(POLL)
            stats = await api.stats()
            if stats["in_flight"] >= N_SLOW and time.monotonic() - started >= CANCEL_AFTER_MIN:
                break
        if task.done():
            early = "was cancelled" if task.cancelled() else (
                f"raised {_name(task.exception())}" if task.exception() is not None else "returned")  # type: ignore[arg-type]
            raise fail(Reason.WRONG_RESULT, "fetch_report finished before its slow requests could have.",
                       measured=f"it {early} after {time.monotonic() - started:.2f} s; the slow requests take "
                                f"{SLOW_MS / 1000:g} s",
                       expected="it waits for every request", hint="Await every request before building the report.")
        in_flight_at_cancel = stats["in_flight"]
        cancelled_at = time.monotonic()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=SLOW_MS / 1000 + 1.5)
        after = time.monotonic() - cancelled_at
        if not done:
            raise fail(Reason.CANCELLATION_SWALLOWED, "fetch_report kept running after it was cancelled.",
                       measured=f"still running {after:.1f} s after `task.cancel()`",
                       expected="CancelledError raised at once",
                       hint="Something catches the CancelledError and carries on. Catch `Exception`, not `BaseException`.")
        if not task.cancelled():
            error = task.exception()
            if error is None:
                value = task.result()
                caught = [u for u, v in value.items() if isinstance(v, asyncio.CancelledError)] \
                    if isinstance(value, Mapping) else []
                stored = (f"; it stored CancelledError as the value of {len(caught)} URL(s)" if caught else "")
                raise fail(Reason.CANCELLATION_SWALLOWED, "your function returned a result after it was cancelled.",
                           measured=f"cancelled {cancelled_at - started:.2f} s in, it returned a "
                                    f"{type(value).__name__} {after:.2f} s later{stored}",
                           expected="CancelledError raised out of fetch_report, no report",
                           hint="CancelledError is a BaseException: `except BaseException` (or a bare `except:`) catches "
                                "the caller's cancellation and turns it into a value. Catch `Exception` instead.")
            raise fail(Reason.CANCELLATION_SWALLOWED, "fetch_report turned its cancellation into another error.",
                       measured=f"cancelled, it raised {_name(error)}: {str(error)[:60]}",
                       expected="CancelledError, unchanged", hint="Let CancelledError propagate as it is.")
        stats = await _in_flight_after(api, SETTLE)
        if stats["in_flight"] > 0:
            raise fail(Reason.CHILDREN_LEFT_RUNNING,
                       "fetch_report was cancelled, but its requests kept running at the server.",
                       measured=f"{stats['in_flight']} of {in_flight_at_cancel} requests still in flight "
                                f"{time.monotonic() - cancelled_at:.1f} s after the cancellation",
                       expected="in-flight back to 0 right after the cancellation",
                       hint="A task from `asyncio.create_task` belongs to nobody: cancelling fetch_report cancels only "
                            "what it awaits at that moment (and `asyncio.wait` or `as_completed` cancel nothing). "
                            "A TaskGroup (or gather) cancels all its children when the caller is cancelled.")
        if stats["completed"] > 1:  # only the quick request may complete
            raise fail(Reason.CHILDREN_LEFT_RUNNING,
                       "some requests ran to completion after fetch_report was cancelled.",
                       measured=f"{stats['completed'] - 1} slow requests completed, {stats['disconnects']} cancelled",
                       expected=f"0 completed, {N_SLOW} cancelled", hint="Cancel every child when the caller is cancelled.")
    return passed(f"every URL mapped to its body or its exception, concurrently; cancelled, it raised "
                  f"CancelledError and all {N_SLOW} requests stopped.",
                  measured=f"{ratio_text(seconds, slowest)}; after cancel: {stats['disconnects']} disconnects, 0 in flight")
