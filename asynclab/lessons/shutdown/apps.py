"""Two versions of one small service for notebook 09: what SIGTERM does to each.

`GET /work/{job_id}` takes `work_ms`, then leaves a background job behind (`work.background_job`)
and answers. `GET /ready` is what a load balancer polls before it sends traffic here.

create_naive_app     fire-and-forget jobs, always "ready": uvicorn still finishes the requests in
                     flight, but the load balancer learns of the shutdown from refused connections,
                     and the jobs still running when the loop ends vanish.
create_graceful_app  on SIGTERM: /ready answers 503 at once, uvicorn is told to stop only
                     `ready_grace` seconds later (the load balancer has moved traffic away by then),
                     and the lifespan drains the jobs for up to `drain_seconds`, then cancels the
                     rest and logs which.

Settings (JSON, they cross into the uvicorn process): work_ms, job_seconds, stuck_every,
drain_seconds, ready_grace, journal (see `work`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Response

from .work import background_job

__all__ = ["GRACEFUL", "NAIVE", "create_graceful_app", "create_naive_app"]

NAIVE = "asynclab.lessons.shutdown.apps:create_naive_app"
GRACEFUL = "asynclab.lessons.shutdown.apps:create_graceful_app"

log = logging.getLogger("asynclab.shutdown")


def create_naive_app(settings: dict[str, Any]) -> FastAPI:
    app = FastAPI()
    jobs: set[asyncio.Task[None]] = set()  # kept, so not garbage-collected; never drained

    @app.get("/work/{job_id}")
    async def work(job_id: int) -> dict[str, int]:
        await asyncio.sleep(settings["work_ms"] / 1000)
        task = asyncio.create_task(background_job(settings, job_id))
        jobs.add(task)
        task.add_done_callback(jobs.discard)
        return {"job": job_id}

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    return app


def create_graceful_app(settings: dict[str, Any]) -> FastAPI:
    state = {"ready": True}
    jobs: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        uvicorn_exit = signal.getsignal(signal.SIGTERM)  # uvicorn's handler: stop accepting, finish requests

        def on_sigterm() -> None:
            state["ready"] = False  # 1. readiness first: the load balancer stops sending here
            if callable(uvicorn_exit):  # 2. then, after the grace, let uvicorn stop accepting
                loop.call_later(settings["ready_grace"], uvicorn_exit, signal.SIGTERM, None)

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, uvicorn_exit)
        await drain(jobs, settings["drain_seconds"])  # 3. requests are answered; now the jobs, bounded

    app = FastAPI(lifespan=lifespan)

    @app.get("/work/{job_id}")
    async def work(job_id: int) -> dict[str, int]:
        await asyncio.sleep(settings["work_ms"] / 1000)
        task = asyncio.create_task(background_job(settings, job_id), name=f"job-{job_id}")
        jobs.add(task)
        task.add_done_callback(jobs.discard)
        return {"job": job_id}

    @app.get("/ready")
    async def ready(response: Response) -> dict[str, bool]:
        if not state["ready"]:
            response.status_code = 503
        return {"ready": state["ready"]}

    return app


async def drain(jobs: set[asyncio.Task[None]], seconds: float) -> None:
    """Wait up to `seconds` for the jobs, cancel the rest, wait for them to end, and log which."""
    if not jobs:
        return
    _, late = await asyncio.wait(set(jobs), timeout=seconds)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    if late:
        log.warning("shutdown: cancelled %d job(s) still running after %.1f s: %s", len(late), seconds,
                    ", ".join(sorted(t.get_name() for t in late)))
