"""Per-user PostgreSQL data folders ("slots"), and what a crash leaves behind in them.

Why slots: two notebooks open at once each need a server of their own, and one data folder
serves one postmaster. The keeper holds an exclusive lock on its slot for its whole life, so
the lock says which folders are free, and the operating system drops it when the keeper
dies, however it dies. A free slot can still hold a stale `postmaster.pid` or even a running
orphan (a keeper killed with SIGKILL on macOS, or a server started by hand): `clear_leftovers`
stops such a server, but only one whose working directory *is* that data folder.

    base/pg-0.lock   locked by the keeper that owns slot 0
    base/pg-0/       PGDATA of slot 0 (initdb'ed once, reused by every later start)
    base/pg-0.log    the server's log of its latest run (pg-0.log.1: the run before)
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ..errors import ServiceStartError

DATA_DIR_ENV = "ASYNCLAB_DATA_DIR"
SLOT_COUNT = 16


def base_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds the slots: `override`, `$ASYNCLAB_DATA_DIR`, or the user data dir."""
    chosen = override or os.environ.get(DATA_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_data_dir("asynclab", appauthor=False))


@dataclass
class Slot:
    """A data folder this process owns until it exits."""

    index: int
    data_dir: Path
    log_file: Path
    lock_fd: int = field(repr=False)  # held open for the keeper's life; exit releases the lock


def claim_slot(base: Path) -> Slot:
    """Lock the lowest free slot under `base`."""
    base.mkdir(parents=True, exist_ok=True)
    for index in range(SLOT_COUNT):
        lock_path = base / f"pg-{index}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if try_lock(fd):
            try:  # who holds it, for a curious human; nothing reads it
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
            return Slot(index, base / f"pg-{index}", base / f"pg-{index}.log", fd)
        os.close(fd)
    raise ServiceStartError(
        f"all {SLOT_COUNT} PostgreSQL slots in {base} are in use by other running kernels.\n"
        "Hint: shut down kernels you no longer need (Kernel > Shut Down Kernel)."
    )


def try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: someone else holds it
        return False
    return True


def postgres_processes_on(data_dir: Path) -> list[psutil.Process]:
    """PostgreSQL processes whose working directory is `data_dir` (every server process is).

    The working directory, not the command line, is the test: backends rename themselves
    ("postgres: checkpointer") and lose the `-D` argument, but they all chdir to PGDATA.
    """
    target = os.path.normcase(os.path.realpath(data_dir))
    found = []
    for proc in psutil.process_iter(["name"]):
        if not (proc.info["name"] or "").lower().startswith("postgres"):
            continue
        try:
            cwd = proc.cwd()
        except psutil.Error:  # gone, a zombie, or another user's: not ours to stop
            continue
        if os.path.normcase(os.path.realpath(cwd)) == target:
            found.append(proc)
    return found


def clear_leftovers(data_dir: Path, timeout: float = 10.0) -> list[int]:
    """Stop any server still running on `data_dir`, remove stale lock files; return stopped pids.

    Call it only while holding the slot: then no live keeper owns these processes.
    """
    procs = postgres_processes_on(data_dir)
    if procs:
        pids = {p.pid for p in procs}
        for proc in procs:
            try:
                if proc.ppid() not in pids:  # the postmaster: ask for a fast shutdown first
                    proc.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=timeout / 2)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(alive, timeout=timeout / 2)
        if alive:
            raise ServiceStartError(
                f"an old PostgreSQL server (pid {alive[0].pid}) on {data_dir} does not stop.\n"
                f"Hint: stop it yourself (kill {alive[0].pid}), then start the lab again."
            )
    # Nothing runs on the folder now, so these are stale. Left in place, a recycled pid in
    # postmaster.pid would make PostgreSQL refuse to start ("is another postmaster running?").
    for stale in (data_dir / "postmaster.pid", *data_dir.glob(".s.PGSQL.*")):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    return sorted(p.pid for p in procs)
