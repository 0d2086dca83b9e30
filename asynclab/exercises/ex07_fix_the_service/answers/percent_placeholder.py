# expect: wrong-result
# Switched from psycopg to asyncpg but kept psycopg's %s placeholder: asyncpg wants $1, so
# every request fails with a syntax error (and the verdict quotes the app's log).
import asyncio
import contextlib

import asyncpg
import httpx
import psycopg
from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row

def create_app(settings: dict) -> FastAPI:
    limit = settings["pool_limit"]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        async with (
            httpx.AsyncClient(limits=limits) as http,
            asyncpg.create_pool(settings["dsn"], min_size=1, max_size=settings["db_pool_size"]) as db,
        ):
            app.state.http, app.state.db = http, db
            app.state.slots = asyncio.Semaphore(limit)  # at most `limit` partner calls at once
            app.state.audits = set()  # strong references: the loop keeps only weak ones
            yield
            if app.state.audits:  # drain before the pool closes: answered views keep their audit event
                await asyncio.wait(set(app.state.audits), timeout=5)

    app = FastAPI(lifespan=lifespan)
    add_metrics(app, settings)  # GET /metrics: the check reads your loop's lag there. Keep it.

    async def record_view(user_id: int) -> None:
        await asyncio.sleep(settings["audit_delay"])  # the audit store is slow (simulated)
        await app.state.db.execute(
            "INSERT INTO events (user_id, kind, payload) "
            "VALUES ($1, 'profile.viewed', jsonb_build_object('run', $2::text))",
            user_id, settings["run_id"])

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict:
        row = await app.state.db.fetchrow("SELECT id, name, email, tier FROM users WHERE id = %s", user_id)
        if row is None:
            raise HTTPException(404, "no such user")
        try:
            async with asyncio.timeout(settings["deadline"]):  # the whole call, waiting for a slot included
                async with app.state.slots:
                    response = await app.state.http.get(partner_url(settings, user_id))
                    response.raise_for_status()
        except (TimeoutError, httpx.HTTPError):
            raise HTTPException(503, "the partner is unavailable") from None
        task = asyncio.create_task(record_view(user_id))
        app.state.audits.add(task)
        task.add_done_callback(app.state.audits.discard)
        return {**row, "score": response.json()["score"]}

    return app
