"""Step "+bound": at most `pool_limit` partner calls at once, a semaphore and pool limits of one size.

The semaphore is made in the lifespan, once: one limit for the whole process. A semaphore made in
the handler would be a new one per request, each with `pool_limit` free slots, which bounds
nothing. Audit tasks are still fired and forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, HTTPException

from ..metrics import add_metrics
from ..settings import AUDIT_SQL, USER_SQL, partner_url


def create_app(settings: dict[str, Any]) -> FastAPI:
    n = settings["pool_limit"]

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

    app = FastAPI(lifespan=lifespan)
    metrics = add_metrics(app, settings)

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
        asyncio.create_task(record_view(user_id))  # fire and forget  # noqa: RUF006 - the mistake on show
        return {**row, "score": response.json()["score"]}

    return app
