# expect: drain-too-eager
# drain() cancels everything at once: work that would have finished in time is thrown away.
import asyncio
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("%s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
