"""What the event loop and a logger saw, collected where a notebook cell can count it.

asyncio reports what it cannot raise to anybody ("Task was destroyed but it is pending!", "Task
exception was never retrieved", "Exception in callback ...") to the loop's exception handler, which
by default logs it: in a notebook, a traceback in some later cell. `capture_loop_errors()` turns
each report into a dict in a list; `recording_logger(name)` does the same for log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["RecordingHandler", "capture_loop_errors", "complaint_text", "recording_logger"]


@contextlib.contextmanager
def capture_loop_errors(loop: asyncio.AbstractEventLoop | None = None) -> Iterator[list[dict[str, Any]]]:
    """Collect what the loop's exception handler receives; restore the previous handler after.

    The default handler *logs* each complaint (to the "asyncio" logger), which in a notebook
    is a traceback in some later cell. Here each one is a dict (`message`, `exception`,
    `task`, `future`, `handle`): `[c["message"] for c in seen]`.
    """
    loop = loop or asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


def complaint_text(context: dict[str, Any]) -> str:
    """One line for a complaint: the message, the task's name, the exception's type."""
    message = (str(context.get("message", "")).splitlines() or [""])[0]
    callback = re.match(r"(Exception in callback [\w.<>]+)\(", message)
    if callback:  # "Exception in callback f(<Task cancelled name=... coro=<... defined at /path...>>)"
        message = callback.group(1) + "(…)"
    message = re.sub(r" at 0x[0-9a-f]+", "", message)
    parts = [message]
    task = context.get("task") or context.get("future")
    if isinstance(task, asyncio.Task):
        parts.append(f"task {task.get_name()!r}")
    exc = context.get("exception")
    if exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return " · ".join(parts)


class RecordingHandler(logging.Handler):
    """Keeps every record it gets in `records`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def recording_logger(name: str) -> tuple[logging.Logger, list[logging.LogRecord]]:
    """A logger (DEBUG and up, not propagated) whose records land in the returned list.

    Calling it again with the same name starts a fresh list.
    """
    logger = logging.getLogger(name)
    for old in [h for h in logger.handlers if isinstance(h, RecordingHandler)]:
        logger.removeHandler(old)
    handler = RecordingHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler.records
