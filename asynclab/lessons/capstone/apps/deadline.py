"""Step "+deadline": one `asyncio.timeout` around the partner call, and 503 for every way it fails.

Still unbounded (httpx's default limits: 100 connections, 20 kept alive) and fire-and-forget.
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
            httpx.AsyncClient(timeout=settings["deadline"]) as http,
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
        try:
            async with asyncio.timeout(settings["deadline"]):  # one deadline for the whole call
                response = await app.state.http.get(partner_url(settings, user_id))
                response.raise_for_status()
        except (TimeoutError, httpx.HTTPError) as exc:  # hung, refused, or answered 4xx/5xx
            raise HTTPException(503, f"partner unavailable ({type(exc).__name__})") from None
        metrics.count("audit_started")
        asyncio.create_task(record_view(user_id))  # fire and forget  # noqa: RUF006 - the mistake on show
        return {**row, "score": response.json()["score"]}

    return app
