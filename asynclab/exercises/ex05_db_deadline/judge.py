"""The verdicts of 05-db-deadline, from what check.py measured (no database, no loop: unit-testable).

Each function takes one recorded call of `query_with_deadline` (and what pg_stat_activity showed)
and returns what the verdict's `measured` line says of it, or raises `fail(...)` naming the first
promise it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ServiceUnavailable
from ...grading.measure import BoundedCall, exception_text
from ...grading.reasons import Reason
from ...grading.registry import fail, still_running_far_past

SLACK = 0.25  # the syllabus' bound: give up within the deadline + 0.25 s
EARLY = 0.8  # giving up before this share of the deadline is "gave-up-early"
SERVER_SETTLE = 1.5  # how long PostgreSQL gets to end a cancelled query (check.py waits this long)
FAST_DEADLINE = 2.0  # the deadline of the query on a missing table
SLOW_DEADLINE = 0.5  # the deadline of `pg_sleep(10)`
SLOW_WHERE = "against `select pg_sleep(10)` with a 0.5 s deadline"


@dataclass
class FastQuery:
    """A query that must return its rows within its deadline."""

    what: str  # "a fast query (3 users)"
    seconds: float  # its deadline
    expected: list[tuple[Any, ...]]  # the rows, as the check's own connection read them
    call: BoundedCall


@dataclass
class SlowQuery:
    """`pg_sleep(10)` under SLOW_DEADLINE, and the tagged queries pg_stat_activity showed."""

    call: BoundedCall
    seconds: float = SLOW_DEADLINE
    active: list[Any] = field(default_factory=list)  # active queries (with their `age`) after the call

    @property
    def active_at_bound(self) -> list[Any]:
        """What was active when the check stopped waiting (a call that never finished)."""
        return list(self.call.snapshot or [])


def rows_of(value: Any) -> list[tuple[Any, ...]] | None:
    """Rows as tuples, whatever the driver returned (asyncpg Records, tuples, dicts)."""
    if not isinstance(value, list):
        return None
    out = []
    for row in value:
        if isinstance(row, dict):
            out.append(tuple(row.values()))
        else:
            try:
                out.append(tuple(row))
            except TypeError:
                return None
    return out


def _is_db(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("asyncpg", "psycopg", "psycopg2")


def judge_fast(m: FastQuery) -> float:
    """The rows came back in time: returns the seconds it took."""
    call, what, seconds = m.call, m.what, m.seconds
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"{what}: your function was still waiting after {call.elapsed:.1f} s.",
                   measured=f"still running after {call.elapsed:.1f} s", expected="the rows, quickly",
                   hint="Is the pool exhausted by an earlier query that was never released?")
    if call.error is not None:
        reason = Reason.GAVE_UP_EARLY if isinstance(call.error, ServiceUnavailable) or _is_db(call.error) \
            or isinstance(call.error, TimeoutError) else Reason.WRONG_RESULT
        raise fail(reason, f"{what}: your function raised instead of returning the rows.",
                   measured=f"{exception_text(call.error)} after {call.elapsed:.2f} s (deadline {seconds} s)",
                   expected=f"{len(m.expected)} row(s)", hint="statement_timeout is in milliseconds when given a bare "
                   "number: `SET LOCAL statement_timeout = 1` means 1 ms. Give it '500ms' or an int of ms.")
    if rows_of(call.value) != m.expected:
        raise fail(Reason.WRONG_RESULT, f"{what}: your function returned the wrong rows.",
                   measured=repr(call.value)[:100], expected=f"the list of rows: {m.expected[:3]!r}",
                   hint="Return the list of rows that `fetch` gives back.")
    return call.elapsed


def judge_gave_up(m: SlowQuery) -> None:
    """It gave up on pg_sleep(10) in time, with ServiceUnavailable (whether the query ended: judge_query_ended)."""
    call, seconds, where = m.call, m.seconds, SLOW_WHERE
    if not call.finished:
        active = m.active_at_bound
        stuck = " It was cancelled and still did not stop: something catches CancelledError." if call.stuck else ""
        if active and active[0]["age"] >= call.elapsed - seconds / 2 and not call.stuck:
            raise fail(Reason.NO_DEADLINE, f"no deadline: still waiting after {call.elapsed:.1f} s for a 10 s query.",
                       measured=f"deadline {seconds} s; after {call.elapsed:.1f} s the query was still active on "
                                f"the server ({active[0]['age']:.1f} s old)",
                       expected=f"asynclab.ServiceUnavailable within {seconds + SLACK:.2f} s, query cancelled",
                       hint="Nothing stops waiting. Wrap the fetch in `async with asyncio.timeout(seconds):`.")
        raise fail(Reason.DEADLINE_MISSED, f"deadline missed {where}: still running after {call.elapsed:.1f} s." + stuck,
                   measured=f"{call.elapsed / seconds:.1f}× the deadline; "
                            f"{'a query started after the deadline was active' if active else 'no query active'}",
                   expected=f"asynclab.ServiceUnavailable within {seconds + SLACK:.2f} s",
                   hint="Does a retry loop or an `except BaseException` keep going after the deadline?",
                   decisive=still_running_far_past(call.elapsed, seconds + SLACK))
    if call.error is None:
        raise fail(Reason.WRONG_RESULT, f"{where}, your function returned instead of raising.",
                   measured=f"returned {repr(call.value)[:60]} after {call.elapsed:.2f} s",
                   expected="asynclab.ServiceUnavailable",
                   hint="A query that outlives `seconds` ends in `raise ServiceUnavailable(...) from exc`, never in "
                        "a value: the caller cannot tell an empty result from a missed deadline.")
    error = call.error
    if _is_db(error):
        raise fail(Reason.DB_ERROR_ESCAPED, f"a database driver exception escaped {where}.",
                   measured=f"{exception_text(error)} after {call.elapsed:.2f} s; its bases: "
                            + " → ".join(c.__name__ for c in type(error).__mro__[1:-2]),
                   expected="asynclab.ServiceUnavailable",
                   hint="statement_timeout ends a query with asyncpg.QueryCanceledError, which is not a "
                        "TimeoutError. Catch it (or asyncpg.PostgresError) too.")
    if not isinstance(error, ServiceUnavailable):
        raise fail(Reason.WRONG_EXCEPTION, f"{where}, your function raised the wrong exception.",
                   measured=f"{exception_text(error)} after {call.elapsed:.2f} s",
                   expected="asynclab.ServiceUnavailable (`from asynclab import ServiceUnavailable`)",
                   hint="Translate the timeout into ServiceUnavailable: `raise ServiceUnavailable(...) from exc`.")
    if call.elapsed > seconds + SLACK:
        raise fail(Reason.DEADLINE_MISSED, f"deadline missed {where}.",
                   measured=f"ServiceUnavailable after {call.elapsed:.2f} s: {call.elapsed / seconds:.1f}× the deadline",
                   expected=f"within {seconds + SLACK:.2f} s",
                   hint="One deadline for the whole call: no retries with fresh timeouts after it.")
    if call.elapsed < seconds * EARLY:
        raise fail(Reason.GAVE_UP_EARLY, f"your function gave up {where} before its deadline.",
                   measured=f"after {call.elapsed:.2f} s, deadline {seconds} s", expected=f"about {seconds} s",
                   hint="Use `seconds` as the deadline. statement_timeout counts milliseconds.")


def judge_query_ended(m: SlowQuery) -> str:
    """After giving up, no tagged query is left active on the server."""
    if m.active:
        raise fail(Reason.QUERY_LEFT_RUNNING, f"you gave up {SLOW_WHERE}, but the query is still running on the server.",
                   measured=f"{SERVER_SETTLE} s after ServiceUnavailable, pg_stat_activity still shows it active "
                            f"({m.active[0]['age']:.1f} s old)",
                   expected="no active query left: cancelled on the server",
                   hint="Await the query inside the deadline so cancelling it reaches the driver, which then "
                        "cancels it on the server. asyncio.wait(timeout=), shield() or a thread leave it running.")
    return (f"pg_sleep(10) under a {m.seconds} s deadline: ServiceUnavailable after "
            f"{m.call.elapsed:.2f} s, {max(0.0, m.call.elapsed - m.seconds):.2f} s past it; no active query left")


def judge_sql_error(call: BoundedCall) -> str:
    """SQL that fails on its own is the caller's bug: it must raise, and not ServiceUnavailable."""
    expected = "the driver's error (asyncpg.UndefinedTableError), or one of yours, but not ServiceUnavailable"
    if not call.finished:
        raise fail(Reason.DEADLINE_MISSED, f"against SQL that fails at once, your function was still running after "
                   f"{call.elapsed:.1f} s.", measured=f"still running after {call.elapsed:.1f} s", expected=expected,
                   hint="Does something retry a query that can never succeed?")
    if call.error is None:
        raise fail(Reason.WRONG_RESULT, "a query on a table that does not exist returned instead of raising.",
                   measured=f"returned {repr(call.value)[:60]}", expected=expected,
                   hint="Let the driver's error out: catch only the deadline (TimeoutError, QueryCanceledError).")
    if isinstance(call.error, ServiceUnavailable):
        cause = exception_text(call.error.__cause__) if call.error.__cause__ else "-"
        raise fail(Reason.SQL_ERROR_AS_UNAVAILABLE, "SQL that fails (no such table) was reported as ServiceUnavailable.",
                   measured=f"{exception_text(call.error)} (caused by {cause})",
                   expected=expected,
                   hint="Only the deadline means 'the database is unavailable': TimeoutError and "
                        "asyncpg.QueryCanceledError. Catching asyncpg.PostgresError also turns typos, missing "
                        "tables and constraint violations into 503s that retries cannot fix.")
    return exception_text(call.error).split(":")[0]
