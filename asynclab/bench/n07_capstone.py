"""Notebook 07 · Capstone: the fixed service against the broken one, under the same load.

The apps: `create_app` of the `07-fix-the-service` exercise cell (solution and starter) when
solutions/07 has it; until then the reference apps of `asynclab.lessons.capstone.apps` with every
fix on and with none (the notebook's "broken" service), and a SKIP line says so. Either runs
under uvicorn in a child process (`AppProcess`), and `run_load` (aiohttp, so the load generator
is not what is measured) sends the same load to both: RATE requests/s for DURATION s from at
most CLIENTS clients, every kind of user (the partner answers most after 50 ms, hangs for every
25th user and fails for every 20th, as in the check).

Rows
- throughput: answers with status 2xx per second. Ideal: the planned requests for users the
  partner answers, per second of the sending window (the others should get a quick 503).
- p99 latency. Ideal: the p99 of what each planned request should take, the partner's time
  (api_ms) for answered users and the deadline for hanging ones. A request with no answer after
  TIMEOUT s counts as TIMEOUT (the load generator's rule), so a broken p99 is a lower bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..lab import Lab
from .cells import NotAvailable, load_variant
from .report import Row, Skip, Target

TITLE = "07 service"
DEADLINE = 75
NOTEBOOK, EXERCISE = "07", "07-fix-the-service"
CLIENTS, RATE, DURATION, TIMEOUT = 200, 100, 3.0, 2.0


async def rows(lab: Lab, quick: bool = False) -> AsyncIterator[Row | Skip]:
    from ..lessons.capstone import (
        FIXES,
        AppProcess,
        app_factory,
        default_settings,
        partner_kind,
        percentile,
        run_load,
        user_path,
    )

    apps: dict[str, tuple[str, str | None, list[str]]] = {}  # variant -> factory, app_dir, fixes
    try:
        for variant in ("fixed", "broken"):
            module = load_variant(NOTEBOOK, EXERCISE, variant)
            apps[variant] = (f"{module.__name__}:create_app", str(Path(str(module.__file__)).parent), [])
        source, prefix = f"the {EXERCISE} exercise cell", EXERCISE
    except NotAvailable as exc:
        yield Skip(f"{EXERCISE} rows", f"{exc}; measuring the reference apps of asynclab.lessons.capstone instead")
        apps = {"fixed": (app_factory(FIXES), None, list(FIXES)), "broken": (app_factory([]), None, [])}
        source, prefix = "the reference apps (asynclab.lessons.capstone.apps)", "07 reference service"

    duration = 1.0 if quick else DURATION
    reports: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for variant, (factory, app_dir, fixes) in apps.items():
        settings = default_settings(lab.api.scoped().url, lab.pg.dsn, fixes=fixes)
        app = await AppProcess.start(factory, settings, app_dir=app_dir, timeout=30, graceful_timeout=1.0)
        try:
            async with asyncio.timeout(duration + TIMEOUT + 20):
                reports[variant] = await run_load(app.url, clients=CLIENTS, duration=duration, rate=RATE,
                                                  path_fn=user_path, timeout=TIMEOUT, label=variant, progress=False)
            await app.stop(grace=2.0)
        finally:
            await app.kill()
            app.cleanup()

    planned = [user_path(i) for i in range(int(RATE * duration))]
    kinds = [partner_kind(settings, int(p.rsplit("/", 1)[1])) for p in planned]
    ideal_ok = sum(k == "ok" for k in kinds) / duration
    ideal_latency = [settings["deadline"] if k == "hang" else settings["api_ms"] / 1000 for k in kinds]
    ideal_p99 = percentile(ideal_latency, 99)
    load = f"{RATE} req/s for {duration:g} s, at most {CLIENTS} in flight"

    def note(variant: str) -> str:
        r = reports[variant]
        share = r.loop_blocked_share
        loop = "unknown (its /metrics never answered)" if share is None else f"{share:.0%} of the time"
        return (f"{source}, {'fixed' if variant == 'fixed' else 'broken'}: {r.sent} sent, {r.ok} ok, "
                f"status {r.status}, {sum(r.errors.values())} without answer; app loop stalled {loop}")

    name = f"{prefix}: throughput (2xx/s), {load}"
    fixed = Row(name, "fixed", reports["fixed"].throughput, ideal_ok, "req/s", better="higher",
                target=Target.within(1.3), note=note("fixed") + "; ideal = planned requests the partner answers, per s")
    yield fixed
    yield Row(name, "broken", reports["broken"].throughput, ideal_ok, "req/s", better="higher",
              note=note("broken")).against(fixed)
    name = f"{prefix}: p99 latency, {load}"
    fixed = Row(name, "fixed", reports["fixed"].p99, ideal_p99, "s", target=Target.within(1.3),
                note=f"ideal = p99 of api_ms {settings['api_ms']} ms (answered users) and the deadline "
                     f"{settings['deadline']} s (hanging users, {kinds.count('hang')} of {len(kinds)})")
    yield fixed
    yield Row(name, "broken", reports["broken"].p99, ideal_p99, "s",
              note=f"no answer after {TIMEOUT:g} s counts as {TIMEOUT:g} s: a lower bound").against(fixed)
