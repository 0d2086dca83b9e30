# expect: task-lost
# The source article's "good" version, rewritten: an error-logging done callback, and no reference kept.
import asyncio
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _handle_task_error(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception():
            self.logger.error("Background task failed", exc_info=task.exception())

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._handle_task_error)  # the callback lives on the task: it keeps nothing alive
        return task

    async def drain(self, timeout: float) -> None:
        pass  # nothing to drain: nobody knows the tasks

    def __len__(self) -> int:
        return 0
