"""Start graders by forking a process that has already imported them (Linux only).

Why: a grader used to be a fresh `python -m asynclab.grading.worker`, which imports httpx,
asyncpg, the lab and every check again: 0.6-0.7 s of CPU before the check starts, about 250
times in a `make test`. Here one server process per runner process (a pytest worker, a kernel)
imports all that once and forks a child per check. The child is what the worker process was:
its own session and process group (the runner kills the group at the deadline), its own
folder, environment and log, and `worker.main` with the same request file.

The protocol is one connection per check on a unix socket: the runner sends the job as one
JSON line, the server answers `{"pid": N}` when the child runs and `{"status": S}` (a wait
status) when it ended. Where fork is not safe or not there (macOS, Windows), or the server
cannot start, the runner spawns a fresh interpreter as before (runner.py).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DISABLE_ENV = "ASYNCLAB_NO_FORKSERVER"  # "1": always spawn a fresh interpreter
READY = b"asynclab-forkserver-ready\n"
START_TIMEOUT = 30.0
_EXIT = os._exit  # kept before any learner code runs: a cell may replace os._exit, a child must still end
IDLE_EXIT = 600.0  # seconds without a check before the server exits (a learner's kernel may idle for hours)


class Unavailable(Exception):
    """The fork server cannot run this check: the caller spawns a fresh worker instead."""


def available() -> bool:
    return sys.platform.startswith("linux") and os.environ.get(DISABLE_ENV) != "1"


# --- the runner's side ------------------------------------------------------------------------

class Client:
    """One server for this process, started on first use, stopped at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._address = ""

    def _ensure(self) -> str:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self._address
            self.close_locked()
            self._folder = tempfile.TemporaryDirectory(prefix="asynclab-forkserver-")
            self._address = str(Path(self._folder.name, "socket"))
            proc = subprocess.Popen([sys.executable, "-m", "asynclab.grading.forkserver", self._address],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None)
            assert proc.stdout is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                ready = sel.select(START_TIMEOUT) and proc.stdout.readline() == READY
            if not ready:
                proc.kill()
                proc.wait()
                raise Unavailable("the fork server did not start")
            self._proc = proc
            return self._address

    def close_locked(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def start(self, request: str, *, cwd: str, env: dict[str, str], log: str) -> Job:
        """Fork a grader for `request`; raise Unavailable if the server cannot."""
        address = self._ensure()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(START_TIMEOUT)
            sock.connect(address)
            sock.sendall(json.dumps({"request": request, "cwd": cwd, "env": env, "log": log}).encode() + b"\n")
            stream = sock.makefile("rb")
            line = stream.readline()
            pid = int(json.loads(line)["pid"])
        except (OSError, ValueError, KeyError) as exc:
            sock.close()
            raise Unavailable(f"the fork server did not start the check: {exc}") from exc
        return Job(pid, sock, stream)


class Job:
    """A forked grader: its pid (= its process group) and, once it ended, its exit code."""

    def __init__(self, pid: int, sock: socket.socket, stream: Any) -> None:
        self.pid = pid
        self._sock = sock
        self._stream = stream
        self.returncode: int | None = None

    def wait(self, timeout: float) -> int:
        """The exit code; TimeoutError if it runs longer than `timeout` seconds."""
        self._sock.settimeout(timeout)
        try:
            line = self._stream.readline()
        except TimeoutError:
            raise
        except OSError:
            line = b""
        try:
            status = int(json.loads(line)["status"]) if line else -9
        except (ValueError, KeyError):
            status = -9
        self.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else status
        return self.returncode

    def close(self) -> None:
        self._stream.close()
        self._sock.close()


_client = Client()
atexit.register(_client.close)


def start(request: str, *, cwd: str, env: dict[str, str], log: str) -> Job:
    return _client.start(request, cwd=cwd, env=env, log=log)


# --- the server -------------------------------------------------------------------------------

def _child(job: dict[str, Any], listener: socket.socket, conns: list[socket.socket]) -> None:
    """In the forked child: become what `python -m asynclab.grading.worker REQUEST` was, then exit."""
    code = 70
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores it; a check must not
        listener.close()
        for conn in conns:
            conn.close()
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        sys.path[0] = job["cwd"]
        sys.argv = ["asynclab.grading.worker", job["request"]]
        from . import worker

        code = worker.main(sys.argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        # No interpreter shutdown: multiprocessing's atexit handler joins the learner's pool workers,
        # which only concurrent.futures' threading._register_atexit hook tells to stop, and that runs
        # in threading._shutdown, not in atexit (CPython 3.9+: Lib/concurrent/futures/process.py,
        # Lib/multiprocessing/util.py `_exit_function`). The verdict is written; the runner kills the group.
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        _EXIT(code)


def serve(address: str) -> None:
    """Import everything a check needs, then fork one child per job until the parent goes."""
    # Jupyter interrupts a kernel by signalling its whole process group: the server (in that
    # group) must outlive a learner's "interrupt", as it outlives each check; it goes with its parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .. import lab  # noqa: F401  (the preload: the lab, httpx, the loop watch, every check)
    from . import worker  # noqa: F401
    from .registry import all_exercises

    all_exercises()
    with contextlib.suppress(ImportError):
        import asyncpg  # noqa: F401  (checks import it when they run)
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    listener.settimeout(0.05)
    running: dict[int, socket.socket] = {}
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    last_job = time.monotonic()
    while os.getppid() == parent and (running or time.monotonic() - last_job < IDLE_EXIT):
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            conn = None
        if conn is not None:
            last_job = time.monotonic()
            conn.settimeout(10)
            try:
                job = json.loads(conn.makefile("rb").readline())
            except (OSError, ValueError):
                conn.close()
                job = None
            if job is not None:
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(job, listener, [conn, *running.values()])
                running[pid] = conn
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            done = running.pop(pid, None)
            if done is not None:
                with contextlib.suppress(OSError):
                    done.sendall(json.dumps({"status": status}).encode() + b"\n")
                done.close()


if __name__ == "__main__":
    serve(sys.argv[1])
