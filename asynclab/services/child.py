"""Start a lab service as a child process that can never outlive its parent.

Why a module of its own: every service (HTTP API, PostgreSQL keeper) has the same three
needs: bind loopback, announce its address with one line on stdout, and die with its
parent even when the parent is SIGKILLed (a closed browser tab, nbval killing a kernel).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import ServiceStartError


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGTERM us when the thread that spawned us dies (no-op elsewhere).

    Called in the child itself rather than in a `preexec_fn`: preexec_fn runs between fork
    and exec and can deadlock when the parent has other threads (a Jupyter kernel always
    does). The window before this call is covered by the `getppid()` check that follows it.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass


def watch_parent(parent_pid: int, on_death: Callable[[], None] | None = None, interval: float = 0.5) -> None:
    """In a service process: exit when `parent_pid` is gone. Works on every OS.

    The parent-death signal covers Linux; this thread covers macOS and the case where the
    parent died before prctl ran.
    """
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        if on_death is not None:
            on_death()
        os._exit(0)

    def loop() -> None:
        while True:
            time.sleep(interval)
            if not _pid_alive(parent_pid) or os.getppid() != parent_pid:
                if on_death is not None:
                    try:
                        on_death()
                    finally:
                        os._exit(0)
                os._exit(0)

    threading.Thread(target=loop, name="asynclab-parent-watch", daemon=True).start()


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    """On Windows `os.kill(pid, 0)` is no probe: 0 is CTRL_C_EVENT. Ask the kernel instead."""
    import ctypes
    from ctypes import wintypes

    PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
    STILL_ACTIVE = 259
    ERROR_ACCESS_DENIED = 5
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return ctypes.get_last_error() == ERROR_ACCESS_DENIED  # type: ignore[attr-defined,no-any-return]  # exists, not ours
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


@dataclass
class Child:
    """A running service process and the value it announced (a URL or a DSN)."""

    name: str
    process: subprocess.Popen[str]
    value: str

    def stop(self, timeout: float = 5.0) -> None:
        """Stop politely (SIGTERM), then firmly (SIGKILL)."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _forget_spawner() -> None:  # pragma: no cover - runs in a forked child
    global _spawner
    _spawner = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_spawner)


def _popen(cmd: list[str]) -> subprocess.Popen[str]:
    """Start the process from one long-lived thread.

    Linux sends the parent-death signal when the *thread* that forked the child exits, not
    the process. `lab.start()` spawns from `asyncio.to_thread`, whose worker threads go away
    when a loop closes, which would kill a healthy service. The spawner thread lives until
    the interpreter shuts down.
    """
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asynclab-spawner")
        spawner = _spawner
    return spawner.submit(
        subprocess.Popen,
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    ).result()


def spawn(name: str, module: str, args: Sequence[str], ready_key: str, timeout: float = 30.0) -> Child:
    """Run `python -m module args... --parent-pid <us>` and wait for `ready_key=VALUE`.

    The child must print exactly one line `ready_key=value` on stdout when it is ready to
    serve. Anything it prints before that is kept for the error message.
    """
    cmd = [sys.executable, "-m", module, *args, "--parent-pid", str(os.getpid())]
    process = _popen(cmd)
    assert process.stdout is not None
    seen: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            if line.startswith(ready_key + "="):
                found.append(line.split("=", 1)[1])
                break
            seen.append(line)
        # Keep draining so the child never blocks on a full pipe.
        for _ in process.stdout:
            pass

    reader = threading.Thread(target=read, name=f"asynclab-{name}-stdout", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not found:
        if process.poll() is not None:
            reader.join(1)
            tail = "\n".join(seen[-20:])
            raise ServiceStartError(f"{name} exited with code {process.returncode} before it was ready:\n{tail}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            tail = "\n".join(seen[-20:])
            raise ServiceStartError(f"{name} was not ready after {timeout:.0f} s:\n{tail}")
        time.sleep(0.02)
    return Child(name=name, process=process, value=found[0])
