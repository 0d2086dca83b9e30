"""The verdicts of 07-fix-the-service, from what check.py saw from outside the app (unit-testable).

The check records the app's answers, its /metrics, the partner's counters and the audit rows;
each judge here turns one phase's record into a verdict. The sizes of the load (how many
clients, how long) live in check.py and reach the verdicts through the records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...grading.reasons import Reason
from ...grading.registry import CheckFailed, fail

# Longer than a healthy partner call ever takes here, even on one busy core (0.1-0.4 s). A deadline
# a correct app misses for healthy calls makes it cancel calls inside httpx's pool, and httpcore
# 1.0.9 loses a pool slot to some of those cancellations (encode/httpcore#1093): after ten, every
# call waits for a slot that never frees and every answer is 503. That was the grader's "cliff".
DEADLINE = 1.0
POOL_LIMIT = 10
# A request with no answer after this is "no answer". Four times the deadline: a correct app on a
# busy core also waits for its PostgreSQL pool, outside the deadline, and that must not read as a
# missing deadline. An app without one never answers the users whose partner profile hangs.
CLIENT_TIMEOUT = 4.0
P99_MARGIN = 0.6  # p99 must stay within DEADLINE + P99_MARGIN
LAG_LIMIT = 1.0  # seconds: the longest the app's loop may be late during steady traffic
# An app loop late by this much, or leaving /metrics unanswered this long in all (in the burst or in
# steady traffic), is past what a busy machine does to a right answer (0.02-0.04 s pinned to one
# core beside a CPU hog): its loop-blocked verdict is not measured again (a blocked app's run takes
# 12-15 s). In the burst it is a verdict of its own, so a blocked app is not also put under steady traffic.
DECISIVE_LAG = 2 * LAG_LIMIT
BLOCKED_SHARE = 0.35  # ... and the share of time it may spend stalled
HEALTHY_OK = 0.5  # at least this share of healthy users must get 200 in steady traffic (a broken handler: ~0)
STOP_GRACE = 8.0


def partner_text(stats: dict[str, Any]) -> str:
    return (f"partner saw {stats['requests']} calls, at most {stats['peak_in_flight']} at once, over "
            f"{stats['connections']} TCP connections ({stats['disconnects']} calls cancelled)")


@dataclass
class Smoke:
    """Before any load: GET /metrics, then GET /users/7, and the profile it should have answered."""

    metrics: Any  # the /metrics JSON, or None
    status: int
    text: str
    body: Any  # the JSON body, or None
    want: dict[str, Any]  # id, name, tier from PostgreSQL, score from the partner
    log_line: str = ""  # the app's last log line (quoted on a 5xx)


def judge_smoke(m: Smoke) -> None:
    if not isinstance(m.metrics, dict) or "loop" not in m.metrics:
        raise fail(Reason.NO_METRICS, "GET /metrics did not answer with the service's metrics.",
                   expected="`add_metrics(app, settings)` called in create_app",
                   hint="Keep the line `add_metrics(app, settings)` after `app = FastAPI(...)`: the check reads the "
                        "app's loop lag there.")
    user_id = m.want["id"]
    body = m.body
    if m.status != 200 or not isinstance(body, dict) or any(body.get(k) != v for k, v in m.want.items()):
        detail = m.log_line if m.status >= 500 else ""
        raise fail(Reason.WRONG_RESULT, f"GET /users/{user_id} did not answer the user's profile.",
                   measured=f"HTTP {m.status}: {m.text[:160]}" + (f" ({detail})" if detail else ""),
                   expected=f"HTTP 200 with at least {m.want}",
                   hint="Your handler raised (the app's log line is quoted above): call create_app(settings) in the "
                        "notebook and try it." if m.status >= 500 else
                        "Answer the row from PostgreSQL plus the partner's `score`, as the starter did.")


@dataclass
class Burst:
    """`size` requests at once, all for users the partner answers."""

    size: int
    ok: int  # answered 2xx within CLIENT_TIMEOUT
    loop_lag: float  # the app's worst loop lag (its /metrics)
    stats: dict[str, Any]  # the partner's counters: requests, peak_in_flight, connections, disconnects
    clients: int | None  # httpx clients the app made (its /metrics), None if it could not say
    held: int  # most connections the app held open to the partner at one /metrics read
    silent: float = 0.0  # seconds its /metrics reads waited without an answer

    @property
    def stalled(self) -> float:
        return max(self.loop_lag, self.silent)


def judge_burst(m: Burst) -> None:
    # Clients first: a blocked app answers /metrics only between two requests, when every client it
    # made has made its call. An app with many more clients than calls is busy building clients.
    one_at_a_time = m.clients is None or m.clients <= int(m.stats["requests"]) + 2
    if int(m.stats["peak_in_flight"]) <= 1 and one_at_a_time:
        raise fail(Reason.LOOP_BLOCKED, f"{m.size} clients were waiting at once, but your app called the partner one "
                   "request at a time: each request blocked the event loop until its partner call was over.",
                   measured=f"{m.ok} of {m.size} answered within {CLIENT_TIMEOUT} s; {partner_text(m.stats)}; "
                            f"app loop lag up to {m.loop_lag:.1f} s, /metrics unanswered for {m.silent:.1f} s",
                   expected="many partner calls in flight at once (up to pool_limit), a loop that keeps ticking",
                   hint="Look for a blocking call in the handler: httpx.get / httpx.Client, psycopg.connect, "
                        "time.sleep. Use httpx.AsyncClient and asyncpg (or psycopg's async API), and await them.",
                   decisive=m.stalled >= DECISIVE_LAG)
    judge_connections(m.stats, m.clients, m.held, phase=f"a burst of {m.size} requests")
    if m.stalled >= DECISIVE_LAG:
        raise fail(Reason.LOOP_BLOCKED, f"your app's event loop stalled during a burst of {m.size} requests.",
                   measured=f"app loop lag up to {m.loop_lag:.1f} s, /metrics unanswered for {m.silent:.1f} s in all; "
                            f"{m.ok} of {m.size} answered within {CLIENT_TIMEOUT} s",
                   expected=f"a loop that keeps ticking: lag and silence under {DECISIVE_LAG:g} s",
                   hint="Something runs synchronously on the loop for every request: time.sleep, a sync driver, or CPU "
                        "work. Await an async call instead, or move CPU work off the loop (asyncio.to_thread).",
                   decisive=True)


def judge_connections(stats: dict[str, Any], clients: int | None, held: int, *, phase: str) -> None:
    """`held`: most connections the app's process held open to the partner at one /metrics read."""
    requests, connections = int(stats["requests"]), int(stats["connections"])
    peak, cancelled = int(stats["peak_in_flight"]), int(stats["disconnects"])
    measured = f"during {phase}: {partner_text(stats)}; your app held up to {held} connections open to it at once"
    if clients is not None:
        measured += f"; your app made {clients} httpx client(s)"
        per_request = clients > 3 and clients >= 0.5 * requests
    else:  # the app could not say: judge by the connections alone
        per_request = connections > 3 * POOL_LIMIT and connections >= 0.5 * requests
    if per_request:
        raise fail(Reason.CLIENT_PER_REQUEST, "your app made a new HTTP client, and opened a new connection to the "
                   "partner, for almost every call.", measured=measured,
                   expected=f"one client for the app's lifetime, at most pool_limit={POOL_LIMIT} connections",
                   hint="Create ONE httpx.AsyncClient in the lifespan (with httpx.Limits) and use it in every request. "
                        "Each new client also builds an SSL context: CPU work that stalls the loop.")
    # Either sign: more calls in flight than the limit, or more connections open at once than a pool
    # of pool_limit can hold (on a slow core an unbounded app may start its calls too slowly to
    # overlap, but its pool still keeps more than pool_limit connections alive).
    if peak > POOL_LIMIT or held > POOL_LIMIT:
        raise fail(Reason.UNBOUNDED_DOWNSTREAM, f"the partner had up to {peak} of your calls in flight at once, over up "
                   f"to {held} connections open at once.",
                   measured=measured,
                   expected=f"at most pool_limit={POOL_LIMIT} at once",
                   hint="Bound the calls: an asyncio.Semaphore(settings['pool_limit']) around the partner call, and "
                        "httpx.Limits(max_connections=n, max_keepalive_connections=n) on the client.")
    # A deadline that cancels a call also closes its connection (it cannot be reused mid-answer), and
    # one cancelled while connecting leaves a connection the server counted but never used. So each
    # cancelled call may cost a new connection or two. Anything well beyond that is churn.
    if connections > POOL_LIMIT + 2 * cancelled + 5:
        raise fail(Reason.CONNECTION_CHURN, "your app kept opening new connections to the partner instead of "
                   "reusing its pool.", measured=measured,
                   expected=f"about pool_limit={POOL_LIMIT}, plus a new one for each cancelled call",
                   hint="Set max_keepalive_connections equal to max_connections: httpx closes idle connections beyond "
                        "the keep-alive limit and opens new ones.")


@dataclass
class Steady:
    """Steady traffic with a flaky partner: the answers, by what the partner did for each user."""

    load: str  # "200 clients, 50 requests/s for 3 s"
    answers: dict[str, list[int | None]]  # "ok" / "hang" / "fail" -> each request's HTTP status (None: no answer)
    loop_lag: float
    blocked_share: float | None
    probes_unanswered: int
    probes: int
    p50: float
    p99: float
    status: dict[int, int] = field(default_factory=dict)  # all answers by status
    errors: dict[str, int] = field(default_factory=dict)  # requests without an answer, by kind
    log_line: str = ""  # the app's last log line (quoted when a failing partner got a 500)
    silent: float = 0.0  # seconds its /metrics reads waited without an answer

    @property
    def sent(self) -> int:
        return sum(len(statuses) for statuses in self.answers.values())

    @property
    def stalled(self) -> float:
        return max(self.loop_lag, self.silent)


def group_answers(kinds_and_statuses: Iterable[tuple[str, int | None]]) -> dict[str, list[int | None]]:
    """{"ok": [...], "hang": [...], "fail": [...]} from (partner kind, HTTP status) pairs."""
    groups: dict[str, list[int | None]] = {"ok": [], "hang": [], "fail": []}
    for kind, status in kinds_and_statuses:
        groups[kind].append(status)
    return groups


def steady_problem(m: Steady) -> Reason | None:
    """The first promise steady traffic broke, if any (judge_steady words the verdict)."""
    blocked = m.blocked_share or 0.0
    if m.loop_lag > LAG_LIMIT or blocked > BLOCKED_SHARE or m.probes_unanswered >= 3:
        return Reason.LOOP_BLOCKED
    # The deadline's job is the partner that hangs: those requests must all be answered. A healthy
    # request without an answer is an overloaded machine, judged with the healthy share below.
    if any(status is None for status in m.answers["hang"]):
        return Reason.NO_DEADLINE
    if any(status != 503 for status in m.answers["hang"] + m.answers["fail"]):
        return Reason.WRONG_STATUS
    healthy = m.answers["ok"]
    if healthy and sum(1 for status in healthy if status == 200) < HEALTHY_OK * len(healthy):
        return Reason.WRONG_STATUS
    if m.p99 > DEADLINE + P99_MARGIN:
        return Reason.P99_TOO_HIGH
    return None


def judge_steady(m: Steady) -> None:
    problem = steady_problem(m)
    if problem is None:
        return
    if problem == Reason.LOOP_BLOCKED:
        raise fail(Reason.LOOP_BLOCKED, "your app's event loop stalled under steady traffic.",
                   decisive=m.stalled >= DECISIVE_LAG,
                   measured=f"loop lag up to {m.loop_lag:.2f} s, stalled "
                            f"{0 if m.blocked_share is None else m.blocked_share:.0%} of the time, {m.probes_unanswered} of "
                            f"{m.probes} /metrics reads unanswered ({m.load})",
                   expected=f"lag under {LAG_LIMIT} s, stalled under {BLOCKED_SHARE:.0%}",
                   hint="Something still runs synchronously on the loop for every request: a sync driver, "
                        "time.sleep, or building a client (an SSL context) per request.")
    if problem == Reason.NO_DEADLINE:
        silent = sum(1 for statuses in m.answers.values() for status in statuses if status is None)
        hanging = sum(1 for status in m.answers["hang"] if status is None)
        raise fail(Reason.NO_DEADLINE, f"{hanging} of the {len(m.answers['hang'])} requests for users whose partner profile "
                   f"hangs got no answer within {CLIENT_TIMEOUT:g} s ({silent} of {m.sent} requests in all).",
                   measured=f"p99 {m.p99:.2f} s; {m.errors}",
                   expected=f"every request answered within the deadline ({DEADLINE} s) plus a little",
                   hint="Nothing limits how long your app waits for the partner. Wrap the call in "
                        "`async with asyncio.timeout(settings['deadline']):` and answer 503 when it expires.")
    if problem == Reason.WRONG_STATUS:
        bad = [status for status in m.answers["hang"] + m.answers["fail"] if status != 503]
        if bad:
            seen: dict[str, int] = {}
            for status in bad:
                seen[str(status)] = seen.get(str(status), 0) + 1
            detail = m.log_line if 500 in bad else ""
            raise fail(Reason.WRONG_STATUS, f"{len(bad)} requests whose partner call failed or hung did not answer 503.",
                       measured=f"their answers: {seen}" + (f"; app log: {detail}" if detail else ""),
                       expected="503 Service Unavailable for a partner that fails or misses the deadline",
                       hint="Catch TimeoutError and httpx.HTTPError (raise_for_status raises HTTPStatusError) around "
                            "the partner call and `raise HTTPException(status_code=503)`.")
        healthy = m.answers["ok"]
        good = sum(1 for status in healthy if status == 200)
        raise fail(Reason.WRONG_STATUS, f"only {good} of {len(healthy)} requests for healthy users got 200.",
                   measured=f"answers: {m.status}", expected=f"at least {HEALTHY_OK:.0%} of them 200",
                   hint="Is the deadline or the semaphore too tight, or does the handler fail for healthy users?")
    raise fail(Reason.P99_TOO_HIGH, "p99 latency was well above the deadline.",
               measured=f"p50 {m.p50:.3f} s, p99 {m.p99:.3f} s ({m.load})",
               expected=f"p99 at most {DEADLINE} s + {P99_MARGIN} s",
               hint="Is the deadline around the whole partner call (waiting for a free slot included)? Is something "
                    "slow on the response path, like waiting for the audit write?")


def judge_shutdown(graceful: bool, seconds: float) -> None:
    if not graceful:
        raise fail(Reason.SHUTDOWN_HANGS, f"after SIGTERM your app had not exited {STOP_GRACE:.0f} s later.",
                   measured=f"killed after {seconds:.1f} s", expected="exit within a few seconds of SIGTERM",
                   hint="The lifespan's shutdown (after `yield`) must end: wait for pending audit tasks with a timeout "
                        "(`asyncio.wait(pending, timeout=5)`), cancel the ones still pending, then let the client "
                        "and the pool close.")


def judge_audit(answered: int, rows: int, audit_delay: float) -> None:
    lost = answered - rows
    if lost > 0:
        raise fail(Reason.AUDIT_LOST, f"{lost} of the {answered} profile views answered just before SIGTERM have no "
                   "audit event: their tasks were still pending when the app shut down, and were dropped.",
                   measured=f"{rows} audit rows for the {answered} views answered in the last burst "
                            f"({audit_delay} s audit delay), then SIGTERM",
                   expected="one audit row per answered request, after a graceful shutdown",
                   hint="Keep a strong reference to every audit task (a set, or a TaskGroup owned by the lifespan) "
                        "and wait for them after `yield`, before the pool closes.")


def judge_factory(factory: Any) -> None:
    if not callable(factory):
        raise fail(Reason.NOT_A_FACTORY, "create_app is not a function.",
                   measured=f"create_app is a {type(factory).__name__}",
                   expected="def create_app(settings: dict) -> FastAPI", hint="Keep the name and the signature.")


def did_not_start(error: str) -> CheckFailed:
    """The verdict when uvicorn did not start the app; `error` is the last line of its log. The check raises it."""
    return fail(Reason.APP_DID_NOT_START, "your app did not start under uvicorn.",
                measured=error,
                expected="create_app(settings) returns a FastAPI app whose lifespan starts",
                hint="Call create_app(settings) in the notebook and read the error; a failing lifespan startup "
                     "(a wrong DSN key, an await outside async code) stops uvicorn.")


def judge_answered(user_id: int, error: str | None) -> None:
    """`error`: the httpx exception's name when GET /users/<id> got no answer."""
    if error is not None:
        raise fail(Reason.NO_ANSWER, f"GET /users/{user_id} got no answer.", measured=error,
                   expected="a JSON profile within a second", hint="Call your handler from the notebook first.")
