"""The verdicts of 04-api-client, from a recorded measurement (check.py measures).

Pure functions: tests/judges/test_ex04_api_client.py gives every verdict and threshold from
hand-made measurements, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed

API_LIMIT = 8  # the check asks for 8, not the default 10: the argument must be honoured
API_CALLS = 200
API_MS = 30
ERROR_PATHS = (("/error?rate=1&status=503", 503), ("/users/0", 404))  # each must raise
CLOSE_WITHIN = 2.0  # seconds for sockets to go after the `async with` ends


@dataclass
class Measurement:
    """API_CALLS concurrent get_json calls through one ApiClient(max_connections=API_LIMIT)."""

    results: list[Any]  # what get_json returned for /delay?...&id=i
    connections: int  # TCP connections the API scope saw
    peak: int  # the scope's peak in flight
    created: int  # httpx.AsyncClient constructed while the ApiClient was built and used
    still_open: int  # of those, not closed after `async with` ended
    sockets_left: int  # sockets to the API still open CLOSE_WITHIN s after exit
    seconds: float
    resource_warnings: list[str] = field(default_factory=list)  # ResourceWarnings once it was collected


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an exception reports: the HTTPStatusError of httpx (or of its fork httpx2), or
    aiohttp's ClientResponseError: answers in the other libraries raise their own."""
    import aiohttp
    import httpx
    import httpx2

    if isinstance(exc, httpx.HTTPStatusError | httpx2.HTTPStatusError):
        return exc.response.status_code
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    return None


def judge(m: Measurement) -> Verdict:
    for i, result in enumerate(m.results):
        if not isinstance(result, dict) or str(result.get("id")) != str(i):
            raise fail(Reason.WRONG_RESULT, "get_json did not return the JSON body as a dict.",
                       measured=f"get_json('/delay?ms={API_MS}&id={i}') returned {result!r:.120}",
                       expected=f"{{'id': '{i}', 'slept_ms': {API_MS}}}",
                       hint="Return `response.json()`, and build the URL as base_url + path.")
    measured = (f"{API_CALLS} concurrent calls opened {m.connections} TCP connections (at most {m.peak} requests at once); "
                f"{m.created} httpx.AsyncClient object(s) created")
    expected = f"at most max_connections={API_LIMIT} connections"
    if m.created > API_CALLS // 2:
        raise fail(Reason.CLIENT_PER_REQUEST, "every call made a client of its own, and every client a TCP connection "
                   "(and an SSL context) of its own.", measured=measured, expected=expected + ", from one client",
                   hint="Create one httpx.AsyncClient when the ApiClient is entered and reuse it in get_json.")
    if m.connections > API_LIMIT:
        if m.peak <= API_LIMIT:
            raise fail(Reason.CONNECTION_CHURN, f"never more than {API_LIMIT} requests ran at once, but idle connections "
                       "were closed and new ones opened.", measured=measured, expected=expected,
                       hint="Set max_keepalive_connections to max_connections: httpcore 1.0 (httpx 0.28/0.29) "
                            "closes idle connections beyond the keep-alive limit even while requests are waiting "
                            "(encode/httpcore#1000).")
        reason = (Reason.CLIENT_PER_REQUEST if m.connections >= API_CALLS * 0.9 and m.created == 0
                  else Reason.TOO_MANY_CONNECTIONS)
        raise fail(reason, "your client opened more connections than max_connections allows.", measured=measured,
                   expected=expected, hint="Pass `limits=httpx.Limits(max_connections=..., max_keepalive_connections=...)` "
                   "built from the max_connections argument (httpx's default is 100).")
    if m.sockets_left > 0 or m.still_open:
        raise fail(Reason.NOT_CLOSED, "the ApiClient did not close its connections when `async with` ended.",
                   measured=f"{m.sockets_left} socket(s) to the API still open {CLOSE_WITHIN:.0f} s after exit; "
                            f"{m.still_open} of {m.created} httpx client(s) not closed",
                   expected="every connection closed on exit",
                   hint="`__aexit__` must `await self._client.aclose()`.")
    if m.resource_warnings:
        raise fail(Reason.NOT_CLOSED, "something your ApiClient opened was never closed: Python warned when it was "
                   "garbage-collected.", measured=f"{len(m.resource_warnings)} ResourceWarning(s), "
                   f"first: {m.resource_warnings[0][:120]}",
                   expected="no ResourceWarning after `async with ApiClient(...)` ends",
                   hint="Close everything you open in `__aexit__` (`await self._client.aclose()`).")
    return passed(f"{API_CALLS} calls shared {m.connections} connection(s), and all were closed on exit.",
                  measured=f"{m.connections} of at most {API_LIMIT} connections; {m.seconds:.2f} s")


def judge_error_statuses(errors: list[tuple[str, int, Any]]) -> None:
    """A 4xx or 5xx must raise: a caller must never take an error's body for data. `errors` holds
    (path, its status, what get_json returned or raised), judged after everything else."""
    for path, status, outcome in errors:
        if isinstance(outcome, Exception):
            if status_of(outcome) == status:
                continue
            measured = f"get_json({path!r}) raised {type(outcome).__name__}: {str(outcome)[:100]}"
        else:
            measured = f"get_json({path!r}) returned {outcome!r:.100}"
        raise fail(Reason.STATUS_UNCHECKED, f"the API answered {status}, and get_json did not raise httpx.HTTPStatusError.",
                   measured=measured, expected="httpx.HTTPStatusError for any 4xx or 5xx answer",
                   hint="Call `response.raise_for_status()` before `response.json()`: an error's body is JSON too, "
                        "and a caller would take it for data.")
