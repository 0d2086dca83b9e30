# Exercise: 09-graceful-shutdown
import asyncio
import contextlib
import logging
import signal

from fastapi import FastAPI, Response

from asynclab.lessons.shutdown import background_job

log = logging.getLogger("service")


def create_app(settings: dict) -> FastAPI:
    state = {"ready": True}
    jobs: set[asyncio.Task] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        uvicorn_exit = signal.getsignal(signal.SIGTERM)

        def on_sigterm() -> None:
            state["ready"] = False
            loop.call_later(settings["ready_grace"], uvicorn_exit, signal.SIGTERM, None)

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        yield
        if jobs:
            _, late = await asyncio.wait(set(jobs), timeout=settings["drain_seconds"])
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    app = FastAPI(lifespan=lifespan)

    @app.get("/work/{job_id}")
    async def work(job_id: int) -> dict:
        await asyncio.sleep(settings["work_ms"] / 1000)
        task = asyncio.create_task(background_job(settings, job_id))
        jobs.add(task)
        task.add_done_callback(jobs.discard)
        return {"job": job_id}

    @app.get("/ready")
    async def ready(response: Response) -> dict:
        if not state["ready"]:
            response.status_code = 503
        return {"ready": state["ready"]}

    return app
