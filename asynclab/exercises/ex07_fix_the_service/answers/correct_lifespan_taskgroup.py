# expect: pass
# Another correct style: an AsyncExitStack in the lifespan, and a TaskGroup owned by the lifespan
# for the audit events (it waits for them at shutdown), with pool.acquire(timeout=) and the
# deadline and the semaphore in one `async with`.
import asyncio
import contextlib

import asyncpg
import httpx
import psycopg
from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row

def create_app(settings: dict) -> FastAPI:
    n = settings["pool_limit"]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with contextlib.AsyncExitStack() as stack:
            app.state.db = await stack.enter_async_context(
                asyncpg.create_pool(settings["dsn"], min_size=2, max_size=settings["db_pool_size"]))
            app.state.http = await stack.enter_async_context(httpx.AsyncClient(
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                timeout=httpx.Timeout(settings["deadline"])))
            app.state.slots = asyncio.Semaphore(n)
            # The TaskGroup is entered last, so it exits first: at shutdown it waits for every audit
            # task before the client and the pool close.
            app.state.audit = await stack.enter_async_context(asyncio.TaskGroup())
            yield

    app = FastAPI(lifespan=lifespan)
    add_metrics(app, settings)

    async def partner_score(user_id: int) -> int:
        async with asyncio.timeout(settings["deadline"]), app.state.slots:
            response = await app.state.http.get(partner_url(settings, user_id))
            return response.raise_for_status().json()["score"]

    async def audit(user_id: int) -> None:
        try:
            await asyncio.sleep(settings["audit_delay"])  # the audit store is slow (simulated)
            async with app.state.db.acquire(timeout=5) as conn:
                await conn.execute("INSERT INTO events (user_id, kind, payload) "
                                   "VALUES ($1, 'profile.viewed', jsonb_build_object('run', $2::text))",
                                   user_id, settings["run_id"])
        except Exception:  # one failed audit write must not cancel the TaskGroup's other tasks
            pass

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict:
        async with app.state.db.acquire(timeout=5) as conn:
            row = await conn.fetchrow("SELECT id, name, email, tier FROM users WHERE id = $1", user_id)
        if row is None:
            raise HTTPException(404, "no such user")
        try:
            score = await partner_score(user_id)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise HTTPException(503, f"partner unavailable: {type(exc).__name__}") from None
        app.state.audit.create_task(audit(user_id))
        return {"id": row["id"], "name": row["name"], "email": row["email"], "tier": row["tier"], "score": score}

    return app
