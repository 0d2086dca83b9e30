"""Checks for notebook 07 · Capstone: a service that holds under load.

`07-fix-the-service` runs the learner's `create_app(settings)` under uvicorn in a child process
(`AppProcess`, the same runner the notebook uses), puts the lab's load generator on it, and
judges only what can be seen from outside: the answers and their latencies, the app's own
`/metrics` heartbeat, the partner's counters (a scoped lab API: requests, peak in flight, TCP
connections, disconnects) and the audit rows in PostgreSQL after a SIGTERM.

Three phases, and the first property that fails names the mistake:

1. **Burst**: BURST (60) requests at once, all for users the partner answers.
   * the partner never had 2 calls in flight at once, and the app made no more httpx clients than
     it made calls -> "loop-blocked" (each request blocked the loop until its partner call was
     over: sync httpx / psycopg / time.sleep). Many clients and few calls is a loop busy building
     clients (on a slow core), judged next as "client-per-request";
   * about one new httpx client per partner call -> "client-per-request" (the app's process
     counts the clients it makes; without that count, one TCP connection per call);
   * more partner calls in flight, or more connections open to it, than pool_limit ->
     "unbounded-downstream";
   * far more new connections than the pool plus the cancelled calls -> "connection-churn".
2. **Steady traffic** from 200 clients (50 requests/s for 2 s), some partner profiles hang or fail.
   * the app's loop stalled -> "loop-blocked";
   * requests for users whose partner profile hangs got no answer -> "no-deadline";
   * a failed or hanging partner call did not answer 503, or fewer than half the healthy users
     got 200 -> "wrong-status";
   * p99 above deadline + margin -> "p99-too-high";
   * then the connection rules of phase 1 again, over both phases.
3. **Shutdown under traffic**: a last burst for users not asked for before, then SIGTERM as
   soon as it is answered. The app must exit within 8 s -> "shutdown-hangs", and every profile
   answered in that burst must have its audit row -> "audit-lost".

Before all that: the app must start ("app-did-not-start"), answer GET /users/7 with the right
profile ("wrong-result") and keep its /metrics ("no-metrics").

Noise: p99 and loop lag are judged with wide margins. A run that fails only on those
("loop-blocked", "p99-too-high") is run once more, whole, by the worker (measure.remeasure, the
course's one re-measure policy: a fresh app, and the second run decides). The deadline (45 s)
leaves room for that: the worker re-runs when 1.5× the first run still fits in the time left, and
one run took about 6 s for a correct app and 12-15 s for a blocked one (its clients and the
/metrics read wait out their timeouts) on 2 shared cores; a blocked answer gets both runs.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import httpx

from ...lab import Lab
from ...lessons.capstone import (
    AppProcess,
    AppStartError,
    LoadReport,
    count_audit_events,
    default_settings,
    healthy_user_path,
    partner_kind,
    path_user,
    run_load,
    unused_healthy_ids,
    user_path,
)
from ..layout import ROOT as EXERCISES
from ..reasons import Reason
from ..registry import Verdict, exercise, fail, passed
from ..submission import sized

CLIENTS = 200
# A burst the bounded app can serve well within its deadline (BURST / POOL_LIMIT rounds of the
# partner's 50 ms), yet more calls than pool_limit, so an unbounded app shows itself.
BURST = 60
# Known answers (Size.SMALL) get a burst of 24: still more than pool_limit, and a blocked app (which
# answers one request at a time, each 0.2 s or more) no longer makes /metrics wait 10 s behind it.
BURST_SMALL = 24
# Longer than a healthy partner call ever takes here, even on one busy core (0.1-0.4 s). A deadline
# a correct app misses for healthy calls makes it cancel calls inside httpx's pool, and httpcore
# 1.0.9 loses a pool slot to some of those cancellations (encode/httpcore#1093): after ten, every
# call waits for a slot that never frees and every answer is 503. That was the grader's "cliff".
DEADLINE = 1.0
POOL_LIMIT = 10
# The user read and the audit write share the app's PostgreSQL pool, outside the deadline. On a busy
# core each query takes longer, and a pool of 5 then queues requests for seconds.
DB_POOL_SIZE = 10
AUDIT_DELAY = 0.5  # long enough that fire-and-forget audits are still pending at SIGTERM
STEADY_RATE = 50  # requests/s from the 200 clients: a sixth of what the fixed app manages here
STEADY_SECONDS = 2.0  # 100 requests, 4 of them for users whose partner hangs
STEADY_SECONDS_SMALL = 1.5  # known answers: 75 requests, 3 that hang
# A request with no answer after this is "no answer". Four times the deadline: a correct app on a
# busy core also waits for its PostgreSQL pool, outside the deadline, and that must not read as a
# missing deadline. An app without one never answers the users whose partner profile hangs.
CLIENT_TIMEOUT = 4.0
P99_MARGIN = 0.6  # p99 must stay within DEADLINE + P99_MARGIN
LAG_LIMIT = 1.0  # seconds: the longest the app's loop may be late during steady traffic
BLOCKED_SHARE = 0.35  # ... and the share of time it may spend stalled
HEALTHY_OK = 0.5  # at least this share of healthy users must get 200 in steady traffic (a broken handler: ~0)
LAST_BURST = 30
STOP_GRACE = 8.0


def settings_for(api_url: str, dsn: str) -> dict[str, Any]:
    """The settings the check gives `create_app` (also printed in the exercise text)."""
    return default_settings(api_url, dsn, run_id=f"chk07-{secrets.token_hex(6)}", deadline=DEADLINE,
                            pool_limit=POOL_LIMIT, audit_delay=AUDIT_DELAY, db_pool_size=DB_POOL_SIZE)


@exercise(str(EXERCISES / "ex07_fix_the_service" / "check.py"))  # hints, deadline: exercise.toml
async def check_service(module: ModuleType, lab: Lab) -> Verdict:
    factory = module.create_app
    if not callable(factory):
        raise fail(Reason.NOT_A_FACTORY, "create_app is not a function.",
                   measured=f"create_app is a {type(factory).__name__}",
                   expected="def create_app(settings: dict) -> FastAPI", hint="Keep the name and the signature.")
    api = lab.api.scoped()
    settings = settings_for(api.url, lab.pg.dsn)
    folder = getattr(module, "__file__", None)
    app_dir = str(Path(folder).parent) if folder else None
    try:
        app = await AppProcess.start(f"{module.__name__}:create_app", settings, app_dir=app_dir, timeout=25,
                                     graceful_timeout=5.0)
    except AppStartError as exc:
        raise fail(Reason.APP_DID_NOT_START, "your app did not start under uvicorn.",
                   measured=_last_line(exc.log) or str(exc),
                   expected="create_app(settings) returns a FastAPI app whose lifespan starts",
                   hint="Call create_app(settings) in the notebook and read the error; a failing lifespan startup "
                        "(a wrong DSN key, an await outside async code) stops uvicorn.") from None
    try:
        return await _judge(app, api, lab, settings)
    finally:
        await app.kill()
        app.cleanup()


async def _judge(app: AppProcess, api: Any, lab: Lab, settings: dict[str, Any]) -> Verdict:
    await _smoke(app, lab, settings)

    # 1. Burst ------------------------------------------------------------------------------
    burst_n = sized(full=BURST, small=BURST_SMALL)
    burst = await run_load(app.url, clients=burst_n, requests=burst_n, path_fn=healthy_user_path(settings),
                           timeout=CLIENT_TIMEOUT, progress=False, label="burst")
    # Clients first: a blocked app answers /metrics only between two requests, when every client it
    # made has made its call. An app with many more clients than calls is busy building clients.
    clients = await _clients_created(app)
    stats = await api.stats()
    partner = _partner_text(stats)
    one_at_a_time = clients is None or clients <= int(stats["requests"]) + 2
    if int(stats["peak_in_flight"]) <= 1 and one_at_a_time:
        raise fail(Reason.LOOP_BLOCKED, f"{burst_n} clients were waiting at once, but your app called the partner one "
                   "request at a time: each request blocked the event loop until its partner call was over.",
                   measured=f"{burst.ok} of {burst_n} answered within {CLIENT_TIMEOUT} s; {partner}; "
                            f"app loop lag up to {burst.loop_lag:.1f} s",
                   expected="many partner calls in flight at once (up to pool_limit), a loop that keeps ticking",
                   hint="Look for a blocking call in the handler: httpx.get / httpx.Client, psycopg.connect, "
                        "time.sleep. Use httpx.AsyncClient and asyncpg (or psycopg's async API), and await them.")
    _judge_connections(stats, clients, burst.partner_connections_max or 0, phase=f"a burst of {burst_n} requests")

    # 2. Steady traffic with a flaky partner ------------------------------------------------------
    steady = await _steady(app)
    problem = _steady_problem(steady, settings)
    if problem is not None:  # a timing failure is measured again by the worker (remeasure), whole
        _fail_steady(problem, steady, settings, app)
    stats = await api.stats()
    held = max(burst.partner_connections_max or 0, steady.partner_connections_max or 0)
    _judge_connections(stats, await _clients_created(app), held, phase="the burst and steady traffic")

    # 3. Shutdown under traffic ----------------------------------------------------------------
    # The last burst asks for users nobody asked for before, so their audit rows can only come from
    # it (a request the load generator gave up on earlier may still be answered, and audited, later).
    used = {7, *(path_user(r.path) for report in (burst, steady) for r in report.results)}
    last_ids = unused_healthy_ids(settings, used, LAST_BURST)
    last = await run_load(app.url, clients=LAST_BURST, requests=LAST_BURST, path_fn=lambda i: f"/users/{last_ids[i]}",
                          timeout=CLIENT_TIMEOUT, progress=False, metrics_path=None)
    stop = await app.stop(grace=STOP_GRACE)
    if not stop.graceful:
        raise fail(Reason.SHUTDOWN_HANGS, f"after SIGTERM your app had not exited {STOP_GRACE:.0f} s later.",
                   measured=f"killed after {stop.seconds:.1f} s", expected="exit within a few seconds of SIGTERM",
                   hint="The lifespan's shutdown (after `yield`) must end: wait for pending audit tasks with a timeout "
                        "(`asyncio.wait(pending, timeout=5)`), cancel the ones still pending, then let the client "
                        "and the pool close.")
    answered = [path_user(r.path) for r in last.results if r.status == 200]
    rows = await count_audit_events(lab.pg.dsn, settings["run_id"], user_ids=answered)
    lost = len(answered) - rows
    if lost > 0:
        raise fail(Reason.AUDIT_LOST, f"{lost} of the {len(answered)} profile views answered just before SIGTERM have no "
                   "audit event: their tasks were still pending when the app shut down, and were dropped.",
                   measured=f"{rows} audit rows for the {len(answered)} views answered in the last burst "
                            f"({settings['audit_delay']} s audit delay), then SIGTERM",
                   expected="one audit row per answered request, after a graceful shutdown",
                   hint="Keep a strong reference to every audit task (a set, or a TaskGroup owned by the lifespan) "
                        "and wait for them after `yield`, before the pool closes.")
    return passed(f"under {CLIENTS} clients p99 stayed within the deadline, failures answered 503, the loop kept "
                  "ticking, the partner saw at most pool_limit calls, and no audit event was lost.",
                  measured=f"steady p50 {steady.p50:.3f} s, p99 {steady.p99:.3f} s (deadline {DEADLINE} s); "
                           f"loop lag {steady.loop_lag:.2f} s; partner: peak {stats['peak_in_flight']} in flight, "
                           f"{stats['connections']} connections, {stats['disconnects']} cancelled; "
                           f"{rows} of the last {len(answered)} views audited")


async def _smoke(app: AppProcess, lab: Lab, settings: dict[str, Any]) -> None:
    import asyncpg

    user_id = 7
    assert partner_kind(settings, user_id) == "ok"
    # A fresh connection for each request: an app that fails with a 500 may close the one it used.
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT * 2, trust_env=False) as client:
        try:
            metrics = (await client.get(f"{app.url}/metrics")).json()
        except (httpx.HTTPError, ValueError):
            metrics = None
        expected_profile = (await client.get(f"{lab.api.url}/users/{user_id}")).json()
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT * 2, trust_env=False) as client:
        try:
            response = await client.get(f"{app.url}/users/{user_id}")
        except httpx.HTTPError as exc:
            raise fail(Reason.NO_ANSWER, f"GET /users/{user_id} got no answer.", measured=f"{type(exc).__name__}",
                       expected="a JSON profile within a second", hint="Call your handler from the notebook first.") \
                from None
    if not isinstance(metrics, dict) or "loop" not in metrics:
        raise fail(Reason.NO_METRICS, "GET /metrics did not answer with the service's metrics.",
                   expected="`add_metrics(app, settings)` called in create_app",
                   hint="Keep the line `add_metrics(app, settings)` after `app = FastAPI(...)`: the check reads the "
                        "app's loop lag there.")
    conn = await asyncpg.connect(lab.pg.dsn)
    try:
        row = await conn.fetchrow("SELECT id, name, tier FROM users WHERE id = $1", user_id)
    finally:
        await conn.close()
    want = {"id": user_id, "name": row["name"], "tier": row["tier"], "score": expected_profile["score"]}
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or any(body.get(k) != v for k, v in want.items()):
        detail = _last_line(app.log_tail()) if response.status_code >= 500 else ""
        raise fail(Reason.WRONG_RESULT, f"GET /users/{user_id} did not answer the user's profile.",
                   measured=f"HTTP {response.status_code}: {response.text[:160]}" + (f" ({detail})" if detail else ""),
                   expected=f"HTTP 200 with at least {want}",
                   hint="Your handler raised (the app's log line is quoted above): call create_app(settings) in the "
                        "notebook and try it." if response.status_code >= 500 else
                        "Answer the row from PostgreSQL plus the partner's `score`, as the starter did.")


async def _steady(app: AppProcess) -> LoadReport:
    seconds = sized(full=STEADY_SECONDS, small=STEADY_SECONDS_SMALL)
    return await run_load(app.url, clients=CLIENTS, duration=seconds, rate=STEADY_RATE, path_fn=user_path,
                          timeout=CLIENT_TIMEOUT, progress=False, label="steady")


def _kinds(report: LoadReport, settings: dict[str, Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {"ok": [], "hang": [], "fail": []}
    for r in report.results:
        groups[partner_kind(settings, int(r.path.rsplit("/", 1)[1]))].append(r)
    return groups


def _steady_problem(report: LoadReport, settings: dict[str, Any]) -> str | None:
    blocked = report.loop_blocked_share or 0.0
    if report.loop_lag > LAG_LIMIT or blocked > BLOCKED_SHARE or report.probes_unanswered >= 3:
        return "loop-blocked"
    groups = _kinds(report, settings)
    # The deadline's job is the partner that hangs: those requests must all be answered. A healthy
    # request without an answer is an overloaded machine, judged with the healthy share below.
    if any(r.status is None for r in groups["hang"]):
        return "no-deadline"
    if any(r.status != 503 for r in groups["hang"] + groups["fail"]):
        return "wrong-status"
    healthy = groups["ok"]
    if healthy and sum(1 for r in healthy if r.status == 200) < HEALTHY_OK * len(healthy):
        return "wrong-status"
    if report.p99 > DEADLINE + P99_MARGIN:
        return "p99-too-high"
    return None


def _fail_steady(problem: str, report: LoadReport, settings: dict[str, Any], app: AppProcess) -> NoReturn:
    groups = _kinds(report, settings)
    load = f"{CLIENTS} clients, {STEADY_RATE} requests/s for {sized(full=STEADY_SECONDS, small=STEADY_SECONDS_SMALL):g} s"
    if problem == "loop-blocked":
        blocked = report.loop_blocked_share
        raise fail(Reason.LOOP_BLOCKED, "your app's event loop stalled under steady traffic.",
                   measured=f"loop lag up to {report.loop_lag:.2f} s, stalled "
                            f"{0 if blocked is None else blocked:.0%} of the time, {report.probes_unanswered} of "
                            f"{len(report.probes)} /metrics reads unanswered ({load})",
                   expected=f"lag under {LAG_LIMIT} s, stalled under {BLOCKED_SHARE:.0%}",
                   hint="Something still runs synchronously on the loop for every request: a sync driver, "
                        "time.sleep, or building a client (an SSL context) per request.")
    if problem == "no-deadline":
        silent = [r for r in report.results if r.status is None]
        hanging = sum(1 for r in groups["hang"] if r.status is None)
        raise fail(Reason.NO_DEADLINE, f"{hanging} of the {len(groups['hang'])} requests for users whose partner profile "
                   f"hangs got no answer within {CLIENT_TIMEOUT:g} s ({len(silent)} of {report.sent} requests in all).",
                   measured=f"p99 {report.p99:.2f} s; {report.errors}",
                   expected=f"every request answered within the deadline ({DEADLINE} s) plus a little",
                   hint="Nothing limits how long your app waits for the partner. Wrap the call in "
                        "`async with asyncio.timeout(settings['deadline']):` and answer 503 when it expires.")
    if problem == "wrong-status":
        bad = [r for r in groups["hang"] + groups["fail"] if r.status != 503]
        if bad:
            seen: dict[str, int] = {}
            for r in bad:
                seen[str(r.status)] = seen.get(str(r.status), 0) + 1
            detail = _last_line(app.log_tail()) if any(r.status == 500 for r in bad) else ""
            raise fail(Reason.WRONG_STATUS, f"{len(bad)} requests whose partner call failed or hung did not answer 503.",
                       measured=f"their answers: {seen}" + (f"; app log: {detail}" if detail else ""),
                       expected="503 Service Unavailable for a partner that fails or misses the deadline",
                       hint="Catch TimeoutError and httpx.HTTPError (raise_for_status raises HTTPStatusError) around "
                            "the partner call and `raise HTTPException(status_code=503)`.")
        healthy = groups["ok"]
        good = sum(1 for r in healthy if r.status == 200)
        raise fail(Reason.WRONG_STATUS, f"only {good} of {len(healthy)} requests for healthy users got 200.",
                   measured=f"answers: {report.status}", expected=f"at least {HEALTHY_OK:.0%} of them 200",
                   hint="Is the deadline or the semaphore too tight, or does the handler fail for healthy users?")
    raise fail(Reason.P99_TOO_HIGH, "p99 latency was well above the deadline.",
               measured=f"p50 {report.p50:.3f} s, p99 {report.p99:.3f} s ({load})",
               expected=f"p99 at most {DEADLINE} s + {P99_MARGIN} s",
               hint="Is the deadline around the whole partner call (waiting for a free slot included)? Is something "
                    "slow on the response path, like waiting for the audit write?")


async def _clients_created(app: AppProcess) -> int | None:
    """httpx clients the app has made so far (its /metrics; the app process counts them)."""
    async with httpx.AsyncClient(timeout=8.0, trust_env=False) as client:
        try:
            data = (await client.get(f"{app.url}/metrics")).json()
            return int(data["partner"]["http_clients_created"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None


def _judge_connections(stats: dict[str, Any], clients: int | None, held: int, *, phase: str) -> None:
    """`held`: most connections the app's process held open to the partner at one /metrics read."""
    requests, connections = int(stats["requests"]), int(stats["connections"])
    peak, cancelled = int(stats["peak_in_flight"]), int(stats["disconnects"])
    measured = f"during {phase}: {_partner_text(stats)}; your app held up to {held} connections open to it at once"
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


def _partner_text(stats: dict[str, Any]) -> str:
    return (f"partner saw {stats['requests']} calls, at most {stats['peak_in_flight']} at once, over "
            f"{stats['connections']} TCP connections ({stats['disconnects']} calls cancelled)")


def _last_line(log: str) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
