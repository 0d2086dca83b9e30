# expect: cancellation-swallowed
# A wrapper that catches BaseException: cancel() no longer cancels anything.
import asyncio
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: set[asyncio.Task] = set()

    async def _guarded(self, coro):
        try:
            return await coro
        except BaseException:
            self.logger.exception("background job failed")

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(self._guarded(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
