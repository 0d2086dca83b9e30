"""Step "broken": the service with all five mistakes of notebooks 01-06.

sync drivers on the loop, a connection and a client per request, no deadline (a failing partner
is a 500, a hanging one hangs), nothing bounds the partner calls, audit tasks fired and forgotten.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row

from ..metrics import add_metrics
from ..settings import AUDIT_SQL_PSYCOPG, USER_SQL_PSYCOPG, partner_url


def create_app(settings: dict[str, Any]) -> FastAPI:
    app = FastAPI()
    metrics = add_metrics(app, settings)

    async def record_view(user_id: int) -> None:
        await asyncio.sleep(settings["audit_delay"])  # the audit store is slow (simulated)
        with psycopg.connect(settings["dsn"], autocommit=True) as conn:  # sync, a connection per event
            conn.execute(AUDIT_SQL_PSYCOPG, (user_id, settings["run_id"]))
        metrics.count("audit_recorded")

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, Any]:
        with psycopg.connect(settings["dsn"], row_factory=dict_row) as conn:  # sync; a connection per request
            row = conn.execute(USER_SQL_PSYCOPG, (user_id,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such user")
        response = httpx.get(partner_url(settings, user_id), timeout=None)  # sync; a client per request; no deadline
        response.raise_for_status()  # a failing partner becomes our 500
        metrics.count("audit_started")
        asyncio.create_task(record_view(user_id))  # fire and forget  # noqa: RUF006 - the mistake on show
        return {**row, "score": response.json()["score"]}

    return app
