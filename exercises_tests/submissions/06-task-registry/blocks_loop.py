# expect: loop-blocked
# The solution with time.sleep(0.2) at the top of each coroutine: it must not pass.
import time
import asyncio
import logging

class BackgroundTasks:
    """Fire-and-forget done right: strong references, one ERROR per failure, a bounded drain."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)  # a strong reference while it runs...
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)  # ...and not a moment longer
        if task.cancelled():  # an order to stop, not a failure (and exception() would raise)
            return
        exc = task.exception()
        if exc is not None:
            self.logger.error("background task %s failed", task.get_name(), exc_info=exc)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` for running tasks, then cancel the rest and wait for them to end."""
        time.sleep(0.2)  # blocks the loop
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
