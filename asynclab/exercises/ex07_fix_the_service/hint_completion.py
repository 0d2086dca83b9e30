# Exercise: 07-fix-the-service
import asyncio
import contextlib

import asyncpg
import httpx
from fastapi import FastAPI, HTTPException


def create_app(settings: dict) -> FastAPI:
    n = settings["pool_limit"]
    deadline = settings["deadline"]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)) as http, asyncpg.create_pool(settings['dsn'], min_size=1, max_size=settings['db_pool_size']) as db:
            app.state.http, app.state.db = http, db
            app.state.slots = asyncio.Semaphore(n)
            app.state.pending = set()
            yield
            pending = app.state.pending
            if pending:
                _, late = await asyncio.wait(pending, timeout=5)
                for t in late: t.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    app = FastAPI(lifespan=lifespan)
    add_metrics(app, settings)  # GET /metrics: the check reads your loop's lag there. Keep it.

    async def record_view(user_id: int) -> None:
        await asyncio.sleep(settings["audit_delay"])  # the audit store is slow (simulated)
        await app.state.db.execute("INSERT INTO events (user_id, kind, payload) "
                                   "VALUES ($1, 'profile.viewed', jsonb_build_object('run', $2::text))",
                                   user_id, settings["run_id"])

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict:
        db, http, slots, pending = app.state.db, app.state.http, app.state.slots, app.state.pending
        row = await db.fetchrow("SELECT id, name, email, tier FROM users WHERE id = $1", user_id)
        if row is None:
            raise HTTPException(404, "no such user")
        try:
            async with asyncio.timeout(deadline):
                async with slots:
                    r = await http.get(partner_url(settings, user_id))
                    r.raise_for_status()
        except (TimeoutError, httpx.HTTPError):
            raise HTTPException(503)
        t = asyncio.create_task(record_view(user_id)); pending.add(t); t.add_done_callback(pending.discard)
        return {**row, "score": r.json()["score"]}

    return app
