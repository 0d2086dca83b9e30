"""Run an ASGI app factory under uvicorn in a child process, and stop it the way a deploy does.

Why a process: a service that blocks its loop must not block the notebook (or the grader) that
measures it, and SIGTERM is the only honest test of a shutdown.

    app = await AppProcess.start("mymodule:create_app", settings, app_dir=folder)
    app.url                      # http://127.0.0.1:PORT
    stop = await app.stop()      # SIGTERM: uvicorn finishes requests, runs the lifespan shutdown
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ServiceStartError

if TYPE_CHECKING:
    from ...services.child import Child

__all__ = ["AppProcess", "AppStartError", "StopReport"]

CHILD_MODULE = "asynclab.lessons.capstone.process"
READY_KEY = "ASYNCLAB_APP_URL"


class AppStartError(ServiceStartError):
    """The app process did not start; `log` holds the end of what it wrote."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


@dataclass
class StopReport:
    """How an app process ended: `graceful` when it exited by itself after SIGTERM."""

    graceful: bool
    seconds: float
    returncode: int | None


class AppProcess:
    """An ASGI app factory served by uvicorn in a child process, on 127.0.0.1 and a free port.

        app = await AppProcess.start("submission:create_app", settings, app_dir=folder)
        app.url                      # http://127.0.0.1:PORT
        stop = await app.stop()      # SIGTERM: uvicorn finishes requests, runs the lifespan shutdown
        stop.graceful                # False when it had to be killed

    The child dies with its parent (`asynclab.services.child`). It also stops when the file
    `stop_file` appears, which is how `stop()` asks politely on Windows (no SIGTERM there).
    """

    def __init__(self, child: Child, log_path: Path, settings: dict[str, Any]) -> None:
        self.child = child
        self.url = child.value
        self.log_path = log_path
        self.settings = settings
        self.stopped: StopReport | None = None

    @property
    def pid(self) -> int:
        return self.child.process.pid

    @property
    def stop_file(self) -> Path:
        return self.log_path.with_suffix(".stop")

    @classmethod
    async def start(cls, factory: str, settings: dict[str, Any] | None = None, *,
                    app_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0,
                    graceful_timeout: float = 5.0) -> AppProcess:
        """Start `factory` ("module:function", called with `settings`) and wait until it serves."""
        from ...services.child import spawn

        if settings is None:
            raise ValueError("settings are required (see default_settings)")
        fd, name = tempfile.mkstemp(prefix="asynclab-app-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
        args = ["--factory", factory, "--settings", json.dumps(settings), "--log", str(log_path),
                "--graceful-timeout", str(graceful_timeout)]
        if app_dir is not None:
            args += ["--app-dir", str(app_dir)]
        try:
            child = await asyncio.to_thread(spawn, "capstone-app", CHILD_MODULE, args, READY_KEY,
                                            timeout)
        except ServiceStartError as exc:
            log = _tail(log_path)
            log_path.unlink(missing_ok=True)
            raise AppStartError(f"the app did not start: {exc}".strip(), log) from None
        return cls(child, log_path, settings)

    def alive(self) -> bool:
        return self.child.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        return _tail(self.log_path, lines)

    async def stop(self, grace: float = 5.0) -> StopReport:
        """Ask the app to stop (SIGTERM), wait up to `grace` seconds, then kill it."""
        if self.stopped is not None:
            return self.stopped
        proc = self.child.process
        started = time.monotonic()
        if proc.poll() is None:
            if os.name == "nt":  # pragma: no cover - Windows has no SIGTERM for a child
                self.stop_file.touch()
            else:
                proc.send_signal(signal.SIGTERM)
        while proc.poll() is None and time.monotonic() - started < grace:
            await asyncio.sleep(0.02)
        graceful = proc.poll() is not None
        if not graceful:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
        self.stopped = StopReport(graceful, time.monotonic() - started, proc.returncode)
        return self.stopped

    async def kill(self) -> None:
        """Stop at once (SIGKILL): for an app that is known to be stuck."""
        proc = self.child.process
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
        if self.stopped is None:
            self.stopped = StopReport(False, 0.0, proc.returncode)

    def cleanup(self) -> None:
        self.log_path.unlink(missing_ok=True)
        self.stop_file.unlink(missing_ok=True)

    async def __aenter__(self) -> AppProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stop()
        finally:
            self.cleanup()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _serve_main(argv: Sequence[str] | None = None) -> int:
    """The child: `python -m asynclab.lessons.capstone.process --factory mod:fn --settings JSON ...`."""
    parser = argparse.ArgumentParser(prog=f"python -m {CHILD_MODULE}")
    parser.add_argument("--factory", required=True, help="module:function, called with the settings dict")
    parser.add_argument("--settings", required=True, help="the settings, as JSON")
    parser.add_argument("--app-dir", help="folder to import the factory's module from")
    parser.add_argument("--log", help="write the app's output here instead of stdout")
    parser.add_argument("--graceful-timeout", type=float, default=5.0,
                        help="seconds uvicorn lets open requests finish at shutdown")
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    args = parser.parse_args(argv)

    from ...services.child import watch_parent

    if args.parent_pid is not None:
        watch_parent(args.parent_pid)
    ready_out = sys.stdout
    if args.log:
        log = open(args.log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process
        sys.stdout = sys.stderr = log
    if args.app_dir:
        sys.path.insert(0, args.app_dir)

    import uvicorn

    from asynclab.lessons.capstone import metrics  # by name: the module add_metrics comes from, not __main__

    metrics.count_http_clients()

    module_name, _, function = args.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), function or "create_app")
    app = factory(json.loads(args.settings))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, loop="asyncio",
                            http="h11", ws="none", backlog=4096, timeout_graceful_shutdown=args.graceful_timeout)
    server = uvicorn.Server(config)
    stop_file = Path(args.log).with_suffix(".stop") if args.log else None

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        print(f"{READY_KEY}=http://127.0.0.1:{port}", file=ready_out, flush=True)
        while stop_file is not None and not server.should_exit:  # the polite stop on Windows
            if stop_file.exists():
                server.should_exit = True
            await asyncio.sleep(0.05)

    async def main() -> None:
        announcer = asyncio.create_task(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            announcer.cancel()

    asyncio.run(main())
    return 0 if server.started else 3


if __name__ == "__main__":
    sys.exit(_serve_main())
