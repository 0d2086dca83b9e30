"""The check of 07-fix-the-service: a service that holds under load (notebook 07 · Capstone).

It runs the learner's `create_app(settings)` under uvicorn in a child process (`AppProcess`, the
same runner the notebook uses), puts the lab's load generator on it, and judges only what can be
seen from outside: the answers and their latencies, the app's own `/metrics` heartbeat, the
partner's counters (a scoped lab API: requests, peak in flight, TCP connections, disconnects) and
the audit rows in PostgreSQL after a SIGTERM.

Three phases, and the first property that fails names the mistake (judge.py words each verdict):

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

Before all that: create_app must be a function ("not-a-factory"), the app must start
("app-did-not-start"), answer GET /users/7 at all ("no-answer") and with the right profile
("wrong-result"), and keep its /metrics ("no-metrics").

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
from typing import Any

import httpx

from ...grading.registry import Verdict, exercise, passed
from ...grading.submission import sized
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
from .judge import (
    CLIENT_TIMEOUT,
    DEADLINE,
    POOL_LIMIT,
    STOP_GRACE,
    Burst,
    Smoke,
    Steady,
    did_not_start,
    group_answers,
    judge_answered,
    judge_audit,
    judge_burst,
    judge_connections,
    judge_factory,
    judge_shutdown,
    judge_smoke,
    judge_steady,
)

CLIENTS = 200
# A burst the bounded app can serve well within its deadline (BURST / POOL_LIMIT rounds of the
# partner's 50 ms), yet more calls than pool_limit, so an unbounded app shows itself.
BURST = 60
# Known answers (Size.SMALL) get a burst of 24: still more than pool_limit, and a blocked app (which
# answers one request at a time, each 0.2 s or more) no longer makes /metrics wait 10 s behind it.
BURST_SMALL = 24
# The user read and the audit write share the app's PostgreSQL pool, outside the deadline. On a busy
# core each query takes longer, and a pool of 5 then queues requests for seconds.
DB_POOL_SIZE = 10
AUDIT_DELAY = 0.5  # long enough that fire-and-forget audits are still pending at SIGTERM
STEADY_RATE = 50  # requests/s from the 200 clients: a sixth of what the fixed app manages here
STEADY_SECONDS = 2.0  # 100 requests, 4 of them for users whose partner hangs
STEADY_SECONDS_SMALL = 1.5  # known answers: 75 requests, 3 that hang
LAST_BURST = 30
SMOKE_USER = 7


def settings_for(api_url: str, dsn: str) -> dict[str, Any]:
    """The settings the check gives `create_app` (also printed in the exercise text)."""
    return default_settings(api_url, dsn, run_id=f"chk07-{secrets.token_hex(6)}", deadline=DEADLINE,
                            pool_limit=POOL_LIMIT, audit_delay=AUDIT_DELAY, db_pool_size=DB_POOL_SIZE)


@exercise(__file__)
async def check_service(module: ModuleType, lab: Lab) -> Verdict:
    judge_factory(module.create_app)
    api = lab.api.scoped()
    settings = settings_for(api.url, lab.pg.dsn)
    folder = getattr(module, "__file__", None)
    app_dir = str(Path(folder).parent) if folder else None
    try:
        app = await AppProcess.start(f"{module.__name__}:create_app", settings, app_dir=app_dir, timeout=25,
                                     graceful_timeout=5.0)
    except AppStartError as exc:
        raise did_not_start(_last_line(exc.log) or str(exc)) from None
    try:
        return await _phases(app, api, lab, settings)
    finally:
        await app.kill()
        app.cleanup()


async def _phases(app: AppProcess, api: Any, lab: Lab, settings: dict[str, Any]) -> Verdict:
    assert partner_kind(settings, SMOKE_USER) == "ok"  # the smoke test asks for a user the partner answers
    judge_smoke(await _smoke(app, lab))

    # 1. Burst ------------------------------------------------------------------------------
    burst_n = sized(full=BURST, small=BURST_SMALL)
    burst = await run_load(app.url, clients=burst_n, requests=burst_n, path_fn=healthy_user_path(settings),
                           timeout=CLIENT_TIMEOUT, progress=False, label="burst")
    # Clients first: a blocked app answers /metrics only between two requests, when every client it
    # made has made its call.
    clients = await _clients_created(app)
    judge_burst(Burst(burst_n, burst.ok, burst.loop_lag, await api.stats(), clients, burst.partner_connections_max or 0,
                      silent=burst.silent_s))

    # 2. Steady traffic with a flaky partner ------------------------------------------------------
    steady_s = sized(full=STEADY_SECONDS, small=STEADY_SECONDS_SMALL)
    steady = await run_load(app.url, clients=CLIENTS, duration=steady_s, rate=STEADY_RATE, path_fn=user_path,
                            timeout=CLIENT_TIMEOUT, progress=False, label="steady")
    judge_steady(_steady(steady, settings, app))  # a timing failure is measured again by the worker (remeasure), whole
    stats = await api.stats()
    held = max(burst.partner_connections_max or 0, steady.partner_connections_max or 0)
    judge_connections(stats, await _clients_created(app), held, phase="the burst and steady traffic")

    # 3. Shutdown under traffic ----------------------------------------------------------------
    # The last burst asks for users nobody asked for before, so their audit rows can only come from
    # it (a request the load generator gave up on earlier may still be answered, and audited, later).
    used = {SMOKE_USER, *(path_user(r.path) for report in (burst, steady) for r in report.results)}
    last_ids = unused_healthy_ids(settings, used, LAST_BURST)
    last = await run_load(app.url, clients=LAST_BURST, requests=LAST_BURST, path_fn=lambda i: f"/users/{last_ids[i]}",
                          timeout=CLIENT_TIMEOUT, progress=False, metrics_path=None)
    stop = await app.stop(grace=STOP_GRACE)
    judge_shutdown(stop.graceful, stop.seconds)
    answered = [path_user(r.path) for r in last.results if r.status == 200]
    rows = await count_audit_events(lab.pg.dsn, settings["run_id"], user_ids=answered)
    judge_audit(len(answered), rows, settings["audit_delay"])
    return passed(f"under {CLIENTS} clients p99 stayed within the deadline, failures answered 503, the loop kept "
                  "ticking, the partner saw at most pool_limit calls, and no audit event was lost.",
                  measured=f"steady p50 {steady.p50:.3f} s, p99 {steady.p99:.3f} s (deadline {DEADLINE} s); "
                           f"loop lag {steady.loop_lag:.2f} s; partner: peak {stats['peak_in_flight']} in flight, "
                           f"{stats['connections']} connections, {stats['disconnects']} cancelled; "
                           f"{rows} of the last {len(answered)} views audited")


async def _smoke(app: AppProcess, lab: Lab) -> Smoke:
    import asyncpg

    user_id = SMOKE_USER
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
            error: str | None = type(exc).__name__
        else:
            error = None
    judge_answered(user_id, error)
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
    log_line = _last_line(app.log_tail()) if response.status_code >= 500 else ""
    return Smoke(metrics, response.status_code, response.text, body, want, log_line)


def _steady(report: LoadReport, settings: dict[str, Any], app: AppProcess) -> Steady:
    answers = group_answers((partner_kind(settings, int(r.path.rsplit("/", 1)[1])), r.status) for r in report.results)
    failing = answers["hang"] + answers["fail"]
    seconds = sized(full=STEADY_SECONDS, small=STEADY_SECONDS_SMALL)
    return Steady(load=f"{CLIENTS} clients, {STEADY_RATE} requests/s for {seconds:g} s", answers=answers,
                  loop_lag=report.loop_lag, blocked_share=report.loop_blocked_share,
                  probes_unanswered=report.probes_unanswered, probes=len(report.probes), p50=report.p50, p99=report.p99,
                  status=report.status, errors=report.errors, silent=report.silent_s,
                  log_line=_last_line(app.log_tail()) if 500 in failing else "")


async def _clients_created(app: AppProcess) -> int | None:
    """httpx clients the app has made so far (its /metrics; the app process counts them)."""
    async with httpx.AsyncClient(timeout=8.0, trust_env=False) as client:
        try:
            data = (await client.get(f"{app.url}/metrics")).json()
            return int(data["partner"]["http_clients_created"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None


def _last_line(log: str) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
