"""One step of notebook 07: an app with some fixes, the same load, a shutdown, and what it cost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .apps import app_factory
from .load import LoadReport, run_load
from .process import AppProcess, StopReport
from .progress import Progress
from .settings import default_settings, healthy_user_path, path_user, unused_healthy_ids, user_path

__all__ = ["StepResult", "count_audit_events", "run_step"]


@dataclass
class StepResult:
    """One app under one load: steady traffic, then a last burst and SIGTERM (optionally, a burst on
    a fresh copy of the app).

    `partner` holds the partner's counters during the steady traffic (a fresh scope: this app's
    calls only): calls, most in flight at once, TCP connections, cancelled calls. `answered` is
    how many views the last burst got answered just before SIGTERM, `audit_rows` how many of them
    have their audit row after the app stopped.
    """

    label: str
    settings: dict[str, Any]
    steady: LoadReport
    burst: LoadReport | None
    last: LoadReport
    partner: dict[str, Any]
    burst_partner: dict[str, Any] | None
    stop: StopReport
    answered: int
    audit_rows: int

    @property
    def lost(self) -> int:
        return max(0, self.answered - self.audit_rows)

    def summary(self) -> str:
        """Two lines, the same shape whatever happened."""
        p = self.partner
        return (f"{self.steady.summary()}\n"
                f"   partner: {p['requests']} calls, at most {p['peak_in_flight']} at once, "
                f"{p['connections']} TCP connections · audit: {self.lost} of the {self.answered} views "
                f"answered just before SIGTERM lost")


async def run_step(api: Any, dsn: str, fixes: Iterable[str], *, label: str = "", clients: int = 200,
                   rate: float = 80, duration: float = 1.5, timeout: float = 2.0, burst: bool = False,
                   last_burst: int = 20, progress: bool = True, **overrides: Any) -> StepResult:
    """Start the app with `fixes` (a prefix of FIXES), load it, stop it, count its audit rows.

    api     an ApiHandle of the lab (a fresh scope is taken from it, so the counters are this app's)
    The load: `clients` clients sending `rate` requests/s for `duration` s (every kind of user);
    then `last_burst` requests at once for users not asked for before, and SIGTERM as soon as they
    are answered (a deploy under traffic). With `burst`: `clients` requests at once for healthy
    users, on a fresh copy of the app, so that what a burst does to the first copy (a burst shed
    at the deadline cancels many calls inside httpx's pool, see notebook 07) cannot change the
    shutdown count.
    """
    scoped = api.scoped()
    settings = default_settings(scoped.url, dsn, fixes=fixes, **overrides)
    name = label or "+".join(settings["fixes"]) or "broken"
    show = Progress(name, progress)
    show.phase("starting the service…")
    factory = app_factory(settings["fixes"])
    app = await AppProcess.start(factory, settings, graceful_timeout=1.0)
    try:
        steady = await run_load(app.url, clients=clients, duration=duration, rate=rate, path_fn=user_path,
                                timeout=timeout, label="steady traffic", progress=show)
        partner = await scoped.stats()
        show.phase("a last burst, then SIGTERM: stopping the service…")
        used = {path_user(r.path) for r in steady.results}
        last_ids = unused_healthy_ids(settings, used, last_burst)
        last = await run_load(app.url, clients=last_burst, requests=last_burst, path_fn=lambda i: f"/users/{last_ids[i]}",
                              timeout=timeout, metrics_path=None, progress=False)
        stop = await app.stop(grace=1.0 + float(settings["drain_timeout"]))
    finally:
        await app.kill()
        app.cleanup()
    answered = [path_user(r.path) for r in last.results if r.status == 200]
    rows = await count_audit_events(dsn, settings["run_id"], user_ids=answered)
    burst_report = burst_partner = None
    if burst:
        burst_report, burst_partner = await _burst(api, dsn, settings, clients, timeout, show)
    show.finish(f"the service stopped {'by itself' if stop.graceful else 'only when killed'} "
                f"{stop.seconds:.1f} s after SIGTERM")
    return StepResult(name, settings, steady, burst_report, last, partner, burst_partner, stop, len(answered), rows)


async def _burst(api: Any, dsn: str, settings: dict[str, Any], clients: int, timeout: float,
                 show: Progress) -> tuple[LoadReport, dict[str, Any]]:
    """`clients` requests at once for healthy users, on a fresh copy of the app (its own scope)."""
    scoped = api.scoped()
    fresh = {**settings, "api_url": scoped.url}
    show.phase("starting a fresh copy of the service for the burst…")
    app = await AppProcess.start(app_factory(fresh["fixes"]), fresh, graceful_timeout=1.0)
    try:
        report = await run_load(app.url, clients=clients, requests=clients, path_fn=healthy_user_path(fresh),
                                timeout=timeout, label=f"burst of {clients}", progress=show)
        stats = await scoped.stats()
        show.phase("stopping the fresh copy…")
        await app.stop(grace=1.0)
    finally:
        await app.kill()
        app.cleanup()
    return report, stats


async def count_audit_events(dsn: str, run_id: str, *, user_ids: Iterable[int] | None = None,
                             timeout: float = 10.0) -> int:
    """How many audit events of run `run_id` (for these users only, if given) reached the events table."""
    import asyncpg

    sql = "SELECT count(*) FROM events WHERE payload->>'run' = $1"
    args: list[Any] = [run_id]
    if user_ids is not None:
        sql += " AND user_id = ANY($2::int[])"
        args.append(sorted(set(user_ids)))
    async with asyncio.timeout(timeout):
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(sql, *args))
        finally:
            await conn.close()
