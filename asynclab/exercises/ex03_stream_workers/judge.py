"""The verdicts of 03-stream-workers, from a recorded round (check.py measures).

Pure functions: tests/judges/test_ex03_stream_workers.py gives every verdict and threshold from
hand-made rounds, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from ...grading.measure import exception_leaves
from ...grading.reasons import Reason
from ...grading.registry import Verdict, fail, passed
from ..ex03_bounded_fetch.judge import ERROR_STATUS

EXTRA_TASKS = 5  # live tasks allowed beyond `limit`: a producer, a supervisor, ...
READ_AHEAD_MAX = 2_000  # URLs taken from the stream but not yet sunk (a queue of maxsize 1,000 fits easily)
RETURN_GRACE = 3.0  # seconds process_stream may take to return once everything was sunk
STILL_SINKING = 2.0  # a round cut at its deadline with a sink call this recent is slow, not stuck


@dataclass
class Round:
    """What one round of process_stream did, as the stream, the server and the check saw it."""

    what: str  # "round 1 (200 URLs, limit 10)"
    n: int  # URLs in the stream
    limit: int
    failing: int = 0  # URLs that answer ERROR_STATUS: to be skipped
    pulled: int = 0  # URLs taken from the stream
    sunk: int = 0  # sink calls
    peak_tasks: int = 0  # live tasks of the learner's code at the peak
    peak_read_ahead: int = 0  # URLs taken but not yet sunk, at the peak
    violation: Reason | None = None  # too-many-tasks or unbounded-buffer: the stream ended early
    exhausted: bool = False  # the stream handed out its last URL
    sunk_failed: int = 0  # failing URLs that reached the sink
    bad_body: tuple[str, str] | None = None  # (url, what the sink got) of the first wrong sink call
    missing: int = 0  # good URLs never sunk
    duplicates: int = 0  # good URLs sunk twice or more
    returned: bool = True  # process_stream returned (False: the check stopped waiting)
    result: Any = None  # what it returned
    seconds: float = 0.0
    since_last_sink: float = 0.0  # seconds from the last sink call until the check stopped waiting
    stats: dict[str, Any] = field(default_factory=dict)  # the scope's counters
    leaked: int = 0  # tasks still running after it returned
    made: int = 0  # httpx.AsyncClient constructed by the learner's code
    pool: int = 0  # the given client's max_connections

    @property
    def good(self) -> int:
        """How many URLs answer 200: what must be sunk, and counted."""
        return self.n - self.failing


def judge_round(r: Round) -> str:
    """Raise the failing verdict for one round, or return a line of what was measured."""
    limit, stats = r.limit, r.stats
    measured = (f"{r.what}: {r.pulled:,} URLs taken, {r.sunk:,} sunk, peak {r.peak_tasks} live tasks, "
                f"peak {stats['peak_in_flight']} in flight, {r.seconds:.2f} s")
    if r.made or stats["connections"] > r.pool:
        raise fail(Reason.CLIENT_PER_REQUEST, "process_stream did not use the client it was given: it made new clients.",
                   measured=f"{r.made} new httpx.AsyncClient, {stats['connections']} connections",
                   expected=f"0 new clients, at most {r.pool} connections",
                   hint="Use the `client` argument for every request; a client per request is a pool per request.")
    if r.violation == Reason.TOO_MANY_TASKS:
        raise fail(Reason.TOO_MANY_TASKS, f"{r.peak_tasks} tasks were alive at once for limit={limit}; the task count "
                   "must not grow with the stream. The check stopped the stream early.", measured=measured,
                   expected=f"at most limit + {EXTRA_TASKS} = {limit + EXTRA_TASKS} live tasks, however long the stream",
                   hint="A stream may never end, so you cannot create a task per URL. Start `limit` workers that "
                        "take URLs from a bounded asyncio.Queue (or acquire a semaphore BEFORE creating each task).")
    if r.violation == Reason.UNBOUNDED_BUFFER:
        raise fail(Reason.UNBOUNDED_BUFFER, f"your code took {r.peak_read_ahead:,} URLs from the stream before "
                   "processing them: it buffers the stream in memory. The check stopped the stream early.",
                   measured=f"{r.what}: {r.peak_read_ahead:,} URLs taken but not yet sunk at the peak, "
                            f"{r.peak_tasks} live tasks", expected=f"at most {READ_AHEAD_MAX:,} URLs taken but not yet sunk",
                   hint="Do not read the whole stream into a list (or an unbounded queue). Use "
                        "asyncio.Queue(maxsize=...) so the producer waits while the workers are busy.")
    if stats["peak_in_flight"] > limit:
        raise fail(Reason.OVER_LIMIT, f"more than limit={limit} requests were in flight at once.", measured=measured,
                   expected=f"peak in flight ≤ {limit}",
                   hint="Start exactly `limit` workers (or one shared Semaphore(limit)), and let each do one request at a time.")
    if not r.returned:
        if r.exhausted and r.sunk >= r.good:
            raise fail(Reason.TIMEOUT, f"every URL was processed, but process_stream did not return within "
                       f"{RETURN_GRACE:.0f} s of the stream's end.", measured=measured,
                       expected="return the count once the stream ends and the workers finish",
                       hint="Workers that loop `while True: await queue.get()` never stop by themselves. Put one "
                            "sentinel (None) per worker into the queue at the end, or cancel them after `queue.join()`.")
        if r.since_last_sink < STILL_SINKING:  # still making progress: slow, not stuck
            raise fail(Reason.TOO_SLOW, f"process_stream was still working after {r.seconds:.0f} s.", measured=measured,
                       expected=f"all {r.n:,} URLs processed, `limit` at a time",
                       hint="Are the requests running one after another? Let `limit` of them run at the same time.")
        raise fail(Reason.TIMEOUT, f"process_stream stopped making progress and did not finish within {r.seconds:.0f} s.",
                   measured=measured, expected=f"all {r.n:,} URLs processed",
                   hint="Something waits forever: does every worker get a URL or a stop signal?")
    if r.sunk_failed:
        raise fail(Reason.STATUS_UNCHECKED, f"{r.sunk_failed} URL(s) that answered {ERROR_STATUS} reached the sink "
                   "with the error's body.", measured=measured,
                   expected=f"the {r.failing} failed URLs logged and skipped: not sunk, not counted",
                   hint="Call `response.raise_for_status()` before the sink, catch httpx.HTTPError in the worker, log "
                        "it and go on with the next URL.")
    if r.bad_body is not None:
        url, body = r.bad_body
        raise fail(Reason.WRONG_RESULT, "the sink got something other than the URL and its response body.",
                   measured=f"sink({url!r}, {body})", expected="await sink(url, response.text)",
                   hint="Call the sink with the URL you fetched and that response's text.")
    if r.missing or r.duplicates:
        raise fail(Reason.LOST_URLS, f"{r.missing:,} URLs never reached the sink, {r.duplicates:,} reached it twice.",
                   measured=measured, expected=f"each of the {r.good:,} URLs that answer 200 sunk exactly once",
                   hint="Every URL taken from the stream must be fetched and sunk once; do workers stop too early?")
    if stats["requests"] != r.n:
        raise fail(Reason.LOST_URLS, "the server did not see one request per URL.",
                   measured=f"{stats['requests']:,} requests for {r.n:,} URLs", expected=f"{r.n:,} requests",
                   hint="Fetch each URL exactly once.")
    if r.result != r.good:
        raise fail(Reason.WRONG_RESULT, "process_stream should return how many URLs it processed.",
                   measured=f"returned {r.result!r}" + (f" for {r.n} URLs of which {r.failing} failed"
                                                        if r.failing else ""),
                   expected=f"{r.good}", hint="Count the sink calls and return the count.")
    if r.leaked:
        raise fail(Reason.LEAKED_TASKS, f"{r.leaked} task(s) were still running after process_stream returned.",
                   measured=measured, expected="no task left behind",
                   hint="Stop the workers before returning: a sentinel per worker, or cancel them (a TaskGroup does it for you).")
    return measured


def judge_round1_speed(r: Round, ms: int, ideal: float) -> None:
    """Round 1 has real latency (`ms` per request): at most 2 × the ideal + 0.5 s."""
    if r.seconds > 2 * ideal + 0.5:
        raise fail(Reason.TOO_SLOW, f"{r.n} URLs of {ms} ms with limit={r.limit} took too long.",
                   measured=f"{r.seconds:.2f} s, {r.seconds / ideal:.1f}× the ideal {ideal:.2f} s; "
                            f"peak {r.stats['peak_in_flight']} in flight",
                   expected=f"at most 2× the ideal + 0.5 s = {2 * ideal + 0.5:.2f} s",
                   hint="Are the requests running one at a time? `limit` of them may run together.")


def judge_round_raised(exc: Exception, what: str) -> NoReturn:
    """Round 3 (failing URLs): an error out of process_stream means one failure ended the stream."""
    first = exception_leaves(exc)[0]
    inside = f" of {type(first).__name__}" if first is not exc else ""
    raise fail(Reason.ERROR_ENDS_STREAM, f"a URL that answered {ERROR_STATUS} ended process_stream: the error came out "
               "of it.", measured=f"{what}: process_stream raised {type(exc).__name__}{inside}: {str(first)[:100]}",
               expected="a failed URL is logged and skipped, and the stream goes on",
               hint="Catch httpx.HTTPError around the request in the worker, log it and take the next URL: an "
                    "exception out of a worker ends the whole TaskGroup.") from None


def verdict(rounds: list[str]) -> Verdict:
    return passed(f"every URL processed, never more than limit in flight, at most limit + {EXTRA_TASKS} tasks; "
                  f"failed URLs skipped.", measured="; ".join(rounds))
