# expect: finished-tasks-kept
# Strong references, but never released: the set grows with every task ever spawned.
import asyncio
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: list[asyncio.Task] = []

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._log)
        return task

    def _log(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("%s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            for t in still:
                t.cancel()

    def __len__(self) -> int:
        return len(self._tasks)
