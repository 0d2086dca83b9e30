# expect: pass
# Another style: signal.signal with a thread-safe hand-over, a drain under asyncio.timeout, and a
# readiness flag on app.state.
import asyncio
import contextlib
import logging
import signal

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from asynclab.lessons.shutdown import background_job

log = logging.getLogger("service")


def create_app(settings: dict) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ready = True
        app.state.jobs = set()
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            app.state.ready = False
            loop.call_soon_threadsafe(loop.call_later, settings["ready_grace"], previous, signum, frame)

        signal.signal(signal.SIGTERM, on_term)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
        jobs = list(app.state.jobs)
        try:
            async with asyncio.timeout(settings["drain_seconds"]):
                await asyncio.gather(*(asyncio.shield(j) for j in jobs), return_exceptions=True)
        except TimeoutError:
            pass
        left = [j for j in jobs if not j.done()]
        for j in left:
            j.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        log.warning("cancelled %d job(s) at shutdown", len(left))

    app = FastAPI(lifespan=lifespan)

    @app.get("/work/{job_id}")
    async def work(job_id: int):
        await asyncio.sleep(settings["work_ms"] / 1000)
        t = asyncio.create_task(background_job(settings, job_id))
        app.state.jobs.add(t)
        t.add_done_callback(app.state.jobs.discard)
        return {"job": job_id}

    @app.get("/ready")
    async def ready():
        return JSONResponse({"ready": app.state.ready}, status_code=200 if app.state.ready else 503)

    return app
