# expect: pass
# Another style: a wrapper coroutine logs the failure and releases the reference in `finally`.
import asyncio
import contextlib
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._running: set[asyncio.Task] = set()

    async def _run(self, coro, label):
        try:
            return await coro
        except Exception:  # CancelledError is a BaseException: it passes through untouched
            self._logger.exception("background job %s failed", label)
        finally:
            self._running.discard(asyncio.current_task())

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(self._run(coro, name or getattr(coro, "__qualname__", "job")), name=name)
        self._running.add(task)
        return task

    async def drain(self, timeout: float) -> None:
        tasks = set(self._running)
        if not tasks:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.wait(tasks)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1.0)  # a grace for cancelled tasks, not forever

    def __len__(self) -> int:
        return len(self._running)
