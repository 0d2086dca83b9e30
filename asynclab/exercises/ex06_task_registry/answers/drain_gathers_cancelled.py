# expect: drain-unbounded
# drain() waits with a timeout, cancels what is left, then gathers the cancelled tasks with no limit:
# a job that catches its CancelledError and carries on holds the shutdown forever.
import asyncio
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)  # waits for as long as a task refuses to stop

    def __len__(self) -> int:
        return len(self._tasks)
