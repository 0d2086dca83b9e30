"""The verdicts of 02-fetch-report, from recorded measurements (check.py measures). The rules it
shares with 02-fetch-all (speed, a result read too early) are imported from that judge.

Pure functions: tests/judges/test_ex02_fetch_report.py gives every verdict and threshold from
hand-made measurements, in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ...grading.measure import group_name, ratio_text
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed
from ..ex02_fetch_all.judge import N_SLOW, Ended, body_id, judge_speed, judge_too_early

FAST_MS = 150  # the failing URLs answer 500 after this; the good ones 150 ± 100 ms
SLOW_MS = 2500  # the slow requests of the cancellation round


def judge_raised(exc: Exception, urls: int) -> NoReturn:
    """Round 1 raised: a result read too early, or the failures were not put in the report."""
    judge_too_early(exc, "fetch_report")
    raise fail(Reason.ERROR_NOT_REPORTED, "fetch_report raised instead of putting the failures in the report.",
               measured=f"raised {group_name(exc)} (2 of the {urls} URLs answer 500)",
               expected="a dict: each URL -> its body, or the exception its request raised",
               hint="Catch `Exception` around each request, inside its own task, and return it as a value. "
                    "A TaskGroup without that raises an ExceptionGroup and cancels the rest.")


def judge_report(report: Any, urls: list[str], good: list[str], bad: list[str], seconds: float) -> float:
    """Round 1: every URL maps to its body (good[i] to id "ok{i}") or to its exception (bad),
    about as fast as the slowest request. Returns the slowest request's seconds."""
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
        got_id, ms = body_id(value)
        if got_id != f"ok{good.index(url)}":
            raise fail(Reason.WRONG_RESULT, "a URL maps to something other than its own body.",
                       measured=f"a /delay URL maps to {type(value).__name__}: {str(value)[:60]!r}",
                       expected="the response body of that URL (a string)",
                       hint="Use `fetch_text(client, url)` and keep each result with its own URL.")
        slowest = max(slowest, ms / 1000)
    judge_speed("fetch_report", seconds, slowest, len(urls))
    return slowest


@dataclass
class CancelRun:
    """Round 2: fetch_report is cancelled while its N_SLOW slow requests run."""

    early: Ended | None  # how it ended before the check could cancel it; None: it was still running
    cancelled_at: float  # seconds from the start until task.cancel()
    in_flight_at_cancel: int = 0
    ended: Ended = field(default_factory=Ended)  # how it ended after the cancel (running: it did not)
    after: float = 0.0  # seconds from the cancel until it ended, or until the check stopped waiting
    stats: dict[str, Any] = field(default_factory=dict)  # the scope's counters once settled
    since_cancel: float = 0.0  # seconds from the cancel until those counters


def judge_cancel(run: CancelRun) -> str:
    """Cancelled, fetch_report raises CancelledError and every request stops. Returns what was measured."""
    if run.early is not None:
        early = run.early
        how = "was cancelled" if early.cancelled else (
            f"raised {group_name(early.error)}" if early.error is not None else "returned")
        raise fail(Reason.WRONG_RESULT, "fetch_report finished before its slow requests could have.",
                   measured=f"it {how} after {run.cancelled_at:.2f} s; the slow requests take {SLOW_MS / 1000:g} s",
                   expected="it waits for every request", hint="Await every request before building the report.")
    ended = run.ended
    if ended.running:
        raise fail(Reason.CANCELLATION_SWALLOWED, "fetch_report kept running after it was cancelled.",
                   measured=f"still running {run.after:.1f} s after `task.cancel()`",
                   expected="CancelledError raised at once",
                   hint="Something catches the CancelledError and carries on. Catch `Exception`, not `BaseException`.")
    if not ended.cancelled:
        if ended.error is None:
            value = ended.value
            caught = [u for u, v in value.items() if isinstance(v, asyncio.CancelledError)] \
                if isinstance(value, Mapping) else []
            stored = (f"; it stored CancelledError as the value of {len(caught)} URL(s)" if caught else "")
            raise fail(Reason.CANCELLATION_SWALLOWED, "your function returned a result after it was cancelled.",
                       measured=f"cancelled {run.cancelled_at:.2f} s in, it returned a "
                                f"{type(value).__name__} {run.after:.2f} s later{stored}",
                       expected="CancelledError raised out of fetch_report, no report",
                       hint="CancelledError is a BaseException: `except BaseException` (or a bare `except:`) catches "
                            "the caller's cancellation and turns it into a value. Catch `Exception` instead.")
        raise fail(Reason.CANCELLATION_SWALLOWED, "fetch_report turned its cancellation into another error.",
                   measured=f"cancelled, it raised {group_name(ended.error)}: {str(ended.error)[:60]}",
                   expected="CancelledError, unchanged", hint="Let CancelledError propagate as it is.")
    stats = run.stats
    if stats["in_flight"] > 0:
        raise fail(Reason.CHILDREN_LEFT_RUNNING,
                   "fetch_report was cancelled, but its requests kept running at the server.",
                   measured=f"{stats['in_flight']} of {run.in_flight_at_cancel} requests still in flight "
                            f"{run.since_cancel:.1f} s after the cancellation",
                   expected="in-flight back to 0 right after the cancellation",
                   hint="A task from `asyncio.create_task` belongs to nobody: cancelling fetch_report cancels only "
                        "what it awaits at that moment (and `asyncio.wait` or `as_completed` cancel nothing). "
                        "A TaskGroup (or gather) cancels all its children when the caller is cancelled.")
    if stats["completed"] > 1:  # only the quick request may complete
        raise fail(Reason.CHILDREN_LEFT_RUNNING,
                   "some requests ran to completion after fetch_report was cancelled.",
                   measured=f"{stats['completed'] - 1} slow requests completed, {stats['disconnects']} cancelled",
                   expected=f"0 completed, {N_SLOW} cancelled", hint="Cancel every child when the caller is cancelled.")
    return f"after cancel: {stats['disconnects']} disconnects, 0 in flight"


def verdict(seconds: float, slowest: float, cancel: str) -> Verdict:
    return passed(f"every URL mapped to its body or its exception, concurrently; cancelled, it raised "
                  f"CancelledError and all {N_SLOW} requests stopped.",
                  measured=f"{ratio_text(seconds, slowest)}; {cancel}")
