"""The verdicts of 05-deadline-fetch, from what check.py measured (no network, no loop: unit-testable).

Each function takes one recorded call of `fetch_with_deadline` and returns what the verdict's
`measured` line says of it, or raises `fail(...)` naming the first promise it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from ...errors import ServiceUnavailable
from ...grading.measure import BoundedCall, exception_text
from ...grading.reasons import Reason
from ...grading.registry import fail, still_running_far_past

SLACK = 0.25  # the syllabus' bound: give up within the deadline + 0.25 s
EARLY = 0.8  # giving up on /hang before this share of the deadline is "gave-up-early"
SERVER_SETTLE = 1.5  # how long the server gets to see a disconnect (check.py waits this long)
FAST_DEADLINE = 1.0  # the deadline of the calls that must come back (a fast body, a 404)


@dataclass(frozen=True)
class Slow:
    """A case in which the function must give up: what to call, with which client, and why."""

    name: str
    path: str
    client_timeout: float | None  # the httpx timeout of the client the check passes
    seconds: float  # the deadline passed to the function
    why: str
    cancels: bool = True  # the server must see the request cancelled (a disconnect)


@dataclass
class FastCall:
    """A call that must return the body: a fast server, a short trickle."""

    what: str  # "a fast server (50 ms)"
    expected: str  # the body
    call: BoundedCall
    sent: int  # requests that went through the client the check passed


@dataclass
class SlowCall:
    """A call that must give up with ServiceUnavailable, and what the server's scope counted."""

    case: Slow
    call: BoundedCall
    stats: dict[str, Any] = field(default_factory=dict)  # requests, in_flight, disconnects, completed


def judge_fast(m: FastCall) -> float:
    """The body came back, through the given client: returns the seconds it took."""
    call, what = m.call, m.what
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"against {what}, your function was still waiting after {call.elapsed:.1f} s.",
                   measured=f"a {FAST_DEADLINE} s deadline, still running after {call.elapsed:.1f} s",
                   expected="the body of a fast answer", hint="Did the request ever get sent?")
    if call.error is not None:
        reason = Reason.GAVE_UP_EARLY if isinstance(call.error, ServiceUnavailable) else Reason.WRONG_RESULT
        raise fail(reason, f"against {what}, your function raised instead of returning the body.",
                   measured=f"{exception_text(call.error)} after {call.elapsed:.2f} s (deadline {FAST_DEADLINE} s)",
                   expected=f"the body {m.expected!r}",
                   hint="A fast answer must come back as the response's text. Is a timeout shorter than `seconds`?")
    if not m.sent:
        raise fail(Reason.CLIENT_NOT_USED, "your function did not send its request through the client it was given.",
                   measured="0 requests through the given client",
                   expected="every request goes through `client` (its timeouts and connection pool)",
                   hint="Use the `client` argument; a client per call costs a new connection every time (notebook 04).")
    if call.value != m.expected:
        shown = repr(call.value)[:80]
        raise fail(Reason.WRONG_RESULT, f"against {what}, your function returned the wrong thing.",
                   measured=f"{shown} ({type(call.value).__name__})", expected=f"the body as text: {m.expected!r}",
                   hint="Return `response.text`.")
    return call.elapsed


def _is_httpx(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPError) or type(exc).__module__.split(".")[0] == "httpx"


def _judge_unfinished(m: SlowCall, where: str) -> None:
    call, case, stats, deadline = m.call, m.case, m.stats, m.case.seconds
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
               expected=f"asynclab.ServiceUnavailable within {deadline + SLACK:.2f} s", hint=hint,
               decisive=still_running_far_past(call.elapsed, deadline + SLACK))


def judge_slow(m: SlowCall) -> float:
    """It gave up in time, with ServiceUnavailable, and the server saw the request end: returns the seconds."""
    call, case, stats, deadline = m.call, m.case, m.stats, m.case.seconds
    where = f"against {case.path.split('?')[0]} ({case.why})"
    if not call.finished:
        _judge_unfinished(m, where)
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
                   measured=f"{exception_text(error)} after {call.elapsed:.2f} s; its bases: "
                            + " → ".join(c.__name__ for c in type(error).__mro__[1:-2]),
                   expected="asynclab.ServiceUnavailable (no httpx exception escapes)",
                   hint="httpx's own timeouts raise httpx.TimeoutException, which is not a TimeoutError, so "
                        "`except TimeoutError` misses it. Catch httpx.HTTPError too.")
    if not isinstance(error, ServiceUnavailable):
        raise fail(Reason.WRONG_EXCEPTION, f"{where}, your function raised the wrong exception.",
                   measured=f"{exception_text(error)} after {call.elapsed:.2f} s",
                   expected="asynclab.ServiceUnavailable (`from asynclab import ServiceUnavailable`)",
                   hint="Callers handle one exception for 'the dependency is down': translate TimeoutError "
                        "and httpx errors into ServiceUnavailable (`raise ServiceUnavailable(...) from exc`).")
    if call.elapsed > deadline + SLACK:
        raise fail(Reason.DEADLINE_MISSED, f"deadline missed {where}.",
                   measured=f"ServiceUnavailable after {call.elapsed:.2f} s: {call.elapsed / deadline:.1f}× "
                            f"the {deadline} s deadline",
                   expected=f"within {deadline + SLACK:.2f} s",
                   hint="Does something retry, or wait again, after the deadline? One deadline covers the whole call.")
    if case.name == "hang" and call.elapsed < deadline * EARLY:
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
    return call.elapsed


def judge_client_error(call: BoundedCall) -> str:
    """A 404 is the caller's mistake: it must raise, and not ServiceUnavailable. Returns the exception's name."""
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
        cause = exception_text(call.error.__cause__) if call.error.__cause__ else "-"
        raise fail(Reason.CLIENT_ERROR_AS_UNAVAILABLE, "a 404 was reported as ServiceUnavailable.",
                   measured=f"{exception_text(call.error)} (caused by {cause})",
                   expected=expected,
                   hint="A 4xx is the caller's mistake, not an outage: retrying it cannot help, and callers "
                        "that treat ServiceUnavailable as 'the dependency is down' would be misled. Turn only "
                        "timeouts, httpx.RequestError and 5xx into ServiceUnavailable; `except httpx.HTTPError` "
                        "also catches the HTTPStatusError of a 4xx.")
    return exception_text(call.error).split(":")[0]
