"""Step "+pool": one HTTP client and one PostgreSQL pool, opened and closed by the lifespan.

Still no deadline (the client waits forever), no bound, audit tasks fired and forgotten.
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
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            httpx.AsyncClient(timeout=None) as http,  # one client for the app's lifetime
            asyncpg.create_pool(settings["dsn"], min_size=1, max_size=settings["db_pool_size"]) as db,
        ):
            app.state.http, app.state.db = http, db
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
        response = await app.state.http.get(partner_url(settings, user_id))  # no deadline
        response.raise_for_status()
        metrics.count("audit_started")
        asyncio.create_task(record_view(user_id))  # fire and forget  # noqa: RUF006 - the mistake on show
        return {**row, "score": response.json()["score"]}

    return app
