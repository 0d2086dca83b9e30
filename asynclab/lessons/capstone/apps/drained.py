"""Step "+audit": every fix. Audit tasks are kept, and drained at shutdown as notebook 06 does it:
wait for them up to `drain_timeout`, then cancel what is left, and log what was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, HTTPException

from ..metrics import add_metrics
from ..settings import AUDIT_SQL, USER_SQL, partner_url

log = logging.getLogger("asynclab.capstone")


def create_app(settings: dict[str, Any]) -> FastAPI:
    n = settings["pool_limit"]
    audits: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with (
            httpx.AsyncClient(limits=limits, timeout=settings["deadline"]) as http,
            asyncpg.create_pool(settings["dsn"], min_size=1, max_size=settings["db_pool_size"]) as db,
        ):
            app.state.http, app.state.db = http, db
            app.state.slots = asyncio.Semaphore(n)  # one limit for the whole process
            yield
            await drain(audits, settings["drain_timeout"])  # inside the `async with`: the pool is still open

    app = FastAPI(lifespan=lifespan)
    metrics = add_metrics(app, settings)
    metrics.gauge("audit_pending", lambda: len(audits))

    async def record_view(user_id: int) -> None:
        await asyncio.sleep(settings["audit_delay"])  # the audit store is slow (simulated)
        await app.state.db.execute(AUDIT_SQL, user_id, settings["run_id"])
        metrics.count("audit_recorded")

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, Any]:
        row = await app.state.db.fetchrow(USER_SQL, user_id)
        if row is None:
            raise HTTPException(404, "no such user")
        try:
            async with asyncio.timeout(settings["deadline"]):  # the wait for a slot counts too
                async with app.state.slots:
                    response = await app.state.http.get(partner_url(settings, user_id))
                    response.raise_for_status()
        except (TimeoutError, httpx.HTTPError) as exc:
            raise HTTPException(503, f"partner unavailable ({type(exc).__name__})") from None
        metrics.count("audit_started")
        task = asyncio.create_task(record_view(user_id), name=f"audit-{user_id}")
        audits.add(task)
        task.add_done_callback(audits.discard)
        return {**row, "score": response.json()["score"]}

    return app


async def drain(tasks: set[asyncio.Task[None]], timeout: float) -> None:
    """Wait up to `timeout` for the tasks, then cancel the rest, wait for them to end, and say which."""
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        log.warning("shutdown: cancelled %d audit task(s) still pending after %.1f s: %s", len(pending), timeout,
                    ", ".join(sorted(t.get_name() for t in pending)))
