"""Step "+async": drivers that await (asyncpg, httpx.AsyncClient), still one per request.

Nothing else is fixed: a connection and a client per request, no deadline, no bound, audit tasks
fired and forgotten.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, HTTPException

from ..metrics import add_metrics
from ..settings import AUDIT_SQL, USER_SQL, partner_url


def create_app(settings: dict[str, Any]) -> FastAPI:
    app = FastAPI()
    metrics = add_metrics(app, settings)

    async def record_view(user_id: int) -> None:
        await asyncio.sleep(settings["audit_delay"])  # the audit store is slow (simulated)
        conn = await asyncpg.connect(settings["dsn"])  # non-blocking, but a connection per event
        try:
            await conn.execute(AUDIT_SQL, user_id, settings["run_id"])
        finally:
            await conn.close()
        metrics.count("audit_recorded")

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, Any]:
        conn = await asyncpg.connect(settings["dsn"])  # non-blocking, but a connection per request
        try:
            row = await conn.fetchrow(USER_SQL, user_id)
        finally:
            await conn.close()
        if row is None:
            raise HTTPException(404, "no such user")
        async with httpx.AsyncClient(timeout=None) as client:  # non-blocking, but a client per request
            response = await client.get(partner_url(settings, user_id))
        response.raise_for_status()
        metrics.count("audit_started")
        asyncio.create_task(record_view(user_id))  # fire and forget  # noqa: RUF006 - the mistake on show
        return {**row, "score": response.json()["score"]}

    return app
