# expect: loop-blocked
# Pools and timeouts done right, but with the sync clients: one httpx.Client and one psycopg
# connection for the app. Every call still blocks the event loop while it waits.
import asyncio
import contextlib

import asyncpg
import httpx
import psycopg
from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row

def create_app(settings: dict) -> FastAPI:
    limits = httpx.Limits(max_connections=settings["pool_limit"], max_keepalive_connections=settings["pool_limit"])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        with httpx.Client(limits=limits, timeout=settings["deadline"]) as http, \
                psycopg.connect(settings["dsn"], autocommit=True, row_factory=dict_row) as db:
            app.state.http, app.state.db = http, db
            yield

    app = FastAPI(lifespan=lifespan)
    add_metrics(app, settings)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict:
        row = app.state.db.execute("SELECT id, name, email, tier FROM users WHERE id = %s", (user_id,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such user")
        try:
            response = app.state.http.get(partner_url(settings, user_id))  # shared, with a timeout, but sync
            response.raise_for_status()
        except httpx.HTTPError:
            raise HTTPException(503, "the partner is unavailable") from None
        app.state.db.execute("INSERT INTO events (user_id, kind, payload) "
                             "VALUES (%s, 'profile.viewed', jsonb_build_object('run', %s::text))",
                             (user_id, settings["run_id"]))
        return {**row, "score": response.json()["score"]}

    return app
