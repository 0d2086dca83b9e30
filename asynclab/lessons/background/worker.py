"""The worker *program*: `python -m asynclab.lessons.background.worker {durable,memory} ...`.

`WorkerLab` starts it in processes of their own so that one can be SIGKILLed mid-job. `durable`
runs a `work(pool, handler, *, stop)` (the lab's, or a learner's submission module) on a private
jobs table; `memory` holds its jobs in an asyncio.Queue, which a SIGKILL loses. Every job's
handler writes "start" and "done" events; job numbers named on the command line misbehave on
purpose (see `Specials`), so a check can kill a worker mid-job, outlive a lease, take a job over,
or poison one.

The package's `__init__` does not import this module, so running it with `-m` imports it once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .events import EventLog
from .worker_lab import DSN_ENV, LAB_WORK

__all__ = ["Specials", "worker_main"]


def _payload_number(payload: Any) -> int:
    """The job number `n` from what a worker handed the handler (a dict, JSON text, or a row with a payload)."""
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode()
    if isinstance(payload, str):
        payload = json.loads(payload)
    if not isinstance(payload, dict) and hasattr(payload, "keys") and "payload" in payload.keys():
        return _payload_number(payload["payload"])
    if isinstance(payload, dict) and "n" not in payload and "payload" in payload:
        return _payload_number(payload["payload"])
    return int(payload["n"])  # type: ignore[index]


@dataclass(frozen=True)
class Specials:
    """Job numbers whose handler misbehaves on purpose (-1: none)."""

    victim: int = -1  # the first attempt never ends (its worker is SIGKILLed)
    long: int = -1  # runs for long_seconds, longer than the lease
    long_seconds: float = 0.0
    poison: int = -1  # raises on every attempt
    steal: int = -1  # waits until the file "steal-go" exists (the check takes the job over meanwhile)


STEAL_WAIT = 30.0  # seconds the steal job waits for "steal-go" at most


def _make_handler(log: EventLog, folder: Path, special: Specials, seconds: float) -> Callable[[Any], Awaitable[None]]:
    async def handler(payload: Any) -> None:
        try:
            n = _payload_number(payload)
        except Exception:
            log.write("bad-payload", text=repr(payload)[:200])
            raise ValueError(f"the handler expects the job's payload dict, got {payload!r:.80}") from None
        log.write("start", n)
        if n == special.poison:
            raise RuntimeError(f"poison job n={n}: this handler fails on every attempt")
        if n == special.long:
            await asyncio.sleep(special.long_seconds)
        if n == special.steal:
            log.write("steal-wait", n)
            deadline = time.monotonic() + STEAL_WAIT
            while not (folder / "steal-go").exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if n == special.victim:
            try:  # the first attempt at the victim job holds its worker until the worker is killed
                os.close(os.open(folder / "victim-taken", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                log.write("victim", n)
                await asyncio.sleep(3600)
        await asyncio.sleep(seconds)
        log.write("done", n)

    return handler


async def _watch_stop_file(path: Path, stop: asyncio.Event) -> None:
    while not path.exists():
        await asyncio.sleep(0.05)
    stop.set()


async def _run_durable(args: argparse.Namespace, log: EventLog) -> None:
    import asyncpg

    if args.path:
        sys.path.insert(0, args.path)
    module = importlib.import_module(args.module)
    folder = Path(args.events)
    pool = await asyncpg.create_pool(os.environ[DSN_ENV], min_size=1, max_size=4, timeout=10,
                                     server_settings={"search_path": args.schema,
                                                      "application_name": f"asynclab-n06-{args.name}"})
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_stop_file(folder / f"{args.name}.stop", stop))
    try:
        log.write("ready")
        await module.work(pool, _make_handler(log, folder, _specials(args), args.handler_ms / 1000), stop=stop)
        log.write("returned", text="stopped" if stop.is_set() else "early")
    finally:
        watcher.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await pool.close()


async def _run_memory(args: argparse.Namespace, log: EventLog) -> None:
    """The in-memory queue: jobs live in this process's asyncio.Queue, two consumer tasks run them."""
    folder = Path(args.events)
    handler = _make_handler(log, folder, _specials(args), args.handler_ms / 1000)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for n in range(args.jobs):
        queue.put_nowait({"n": n})
        log.write("accepted", n)

    async def consumer() -> None:
        while True:
            payload = await queue.get()
            await handler(payload)

    log.write("ready")
    consumers = [asyncio.create_task(consumer()) for _ in range(2)]
    stop_file = folder / f"{args.name}.stop"
    while not stop_file.exists():
        await asyncio.sleep(0.05)
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


def _specials(args: argparse.Namespace) -> Specials:
    return Specials(victim=args.victim, long=args.long, long_seconds=args.long_ms / 1000, poison=args.poison,
                    steal=args.steal)


_PACKAGE_DIR = str(Path(__file__).resolve().parents[2])  # asynclab/


def _location(exc: BaseException, prefer: str = "") -> str:
    """Where in the learner's code `exc` was raised: the innermost frame outside asynclab and asyncio."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if prefer and f.filename.startswith(prefer)]
    if not mine:
        mine = [f for f in frames if not f.filename.startswith(_PACKAGE_DIR) and "asyncio" not in f.filename]
    if not mine:
        return ""
    last = mine[-1]
    return f" (at {Path(last.filename).name}, line {last.lineno}: {(last.line or '').strip()[:80]})"


def worker_main(argv: list[str] | None = None) -> int:
    """`python -m asynclab.lessons.background.worker {durable,memory} --name A --events DIR ...`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=["durable", "memory"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--events", required=True, help="folder for the event logs")
    parser.add_argument("--module", default=LAB_WORK, help="module with work(pool, handler, *, stop)")
    parser.add_argument("--path", default="", help="folder to put first on sys.path (for --module)")
    parser.add_argument("--schema", default="public")
    parser.add_argument("--victim", type=int, default=-1, help="job number whose first attempt never ends")
    parser.add_argument("--handler-ms", type=int, default=100)
    parser.add_argument("--long", type=int, default=-1, help="job number whose handler runs --long-ms")
    parser.add_argument("--long-ms", type=int, default=0)
    parser.add_argument("--poison", type=int, default=-1, help="job number whose handler always raises")
    parser.add_argument("--steal", type=int, default=-1, help="job number that waits for the file steal-go")
    parser.add_argument("--jobs", type=int, default=20, help="memory mode: jobs accepted at start")
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        from ...services.child import watch_parent

        watch_parent(args.parent_pid)
    log = EventLog(Path(args.events) / f"{args.name}.events", args.name)
    try:
        asyncio.run(_run_durable(args, log) if args.mode == "durable" else _run_memory(args, log))
    except SystemExit:
        return 0
    except BaseException as exc:  # the learner's code crashed: say what and where, for the verdict
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        log.write("error", text=f"{type(exc).__name__}: {exc}".rstrip(": ")[:300] + _location(exc, args.path))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
