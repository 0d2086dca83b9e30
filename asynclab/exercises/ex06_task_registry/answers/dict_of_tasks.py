# expect: pass
# Another style: tasks kept in a dict by id, removed by a lambda, drained with wait_for around wait.
import asyncio
import logging


class BackgroundTasks:
    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger
        self.tasks: dict[int, asyncio.Task] = {}

    def spawn(self, coro, *, name=None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks[id(task)] = task
        task.add_done_callback(lambda t: self._finished(t))
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.pop(id(task), None)
        if task.cancelled():
            self.log.info("task %s cancelled", task.get_name())
            return
        if (exc := task.exception()) is not None:
            self.log.error("task %s crashed", task.get_name(), exc_info=(type(exc), exc, exc.__traceback__))

    async def drain(self, timeout: float) -> None:
        waiting = list(self.tasks.values())
        if waiting:
            done, pending = await asyncio.wait(waiting, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    def __len__(self) -> int:
        return len(self.tasks)
