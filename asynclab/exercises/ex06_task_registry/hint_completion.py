# Exercise: 06-task-registry
# hint names, not code: _done(task)
import asyncio
import logging


class BackgroundTasks:
    """Fire-and-forget with an error callback, as the article does it."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks = set()  # strong references: the loop keeps only weak ones

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled(): return
        exc = task.exception()
        if exc: self.logger.error("%s failed", task.get_name(), exc_info=exc)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)
