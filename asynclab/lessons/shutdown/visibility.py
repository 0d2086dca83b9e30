"""Seeing inside a running service: a request id that follows the request, and a task dump.

Why a ContextVar and not a global: many requests are in flight at once on one thread; a
ContextVar has one value per task (each task runs in the copy of the context it was created in).
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging

__all__ = ["RequestIdFilter", "await_chain", "request_id", "task_dump"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamp every log record with the request id of the task that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def await_chain(task: asyncio.Task[object], limit: int = 10) -> list[tuple[str, int]]:
    """(function, line) from the task's coroutine down to what it waits in.

    Why not `task.get_stack()` alone: for a suspended coroutine it has only the task's own frame
    (on 3.11 to 3.13), not the coroutines it awaits; `cr_await` leads from each to the next.
    """
    chain: list[tuple[str, int]] = []
    coro: object = task.get_coro()
    while coro is not None and len(chain) < limit:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        chain.append((frame.f_code.co_name, frame.f_lineno))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


def task_dump(prefix: str = "", limit: int = 10) -> str:
    """Every task on the running loop whose name starts with `prefix`, with where it is waiting.

    What `python -m asyncio ps` prints from outside on 3.14; this works from inside on any version
    (say, from a debug endpoint or a signal handler of the stuck service).
    """
    out = io.StringIO()
    tasks = sorted((t for t in asyncio.all_tasks() if t.get_name().startswith(prefix)), key=lambda t: t.get_name())
    for task in tasks:
        coro = task.get_coro()
        print(f"{task.get_name()}  {getattr(coro, '__qualname__', coro)}", file=out)
        for name, line in await_chain(task, limit):
            print(f"    {name}  line {line}", file=out)
    return out.getvalue()
